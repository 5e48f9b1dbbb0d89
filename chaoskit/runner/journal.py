"""The run journal: an append-only JSONL stream of events written as the run goes, plus ``result.json``.

Every line is ``{"t": <unix time>, "event": <name>, ...}``. Events: ``run_start``, ``phase_start``,
``phase_finish``, ``window``, ``fault_injected``, ``fault_reverted``, ``fault_error``, ``abort``, ``recovered``,
``verdict``, ``note``, ``run_finish``. Readers (reporters, history) rebuild everything from these lines.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

from chaoskit.runner.result import RunResult

JOURNAL_FILE = "journal.jsonl"
RESULT_FILE = "result.json"


class Journal:
    """Writes one run's events to ``<run_dir>/journal.jsonl``; line-buffered so a crash loses nothing."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.path = run_dir / JOURNAL_FILE
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, event: str, **data: Any) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps({"t": time.time(), "event": event, **data}, default=str) + "\n")

    def finish(self, result: RunResult) -> Path:
        """Write ``run_finish`` and ``result.json``; returns the result path."""
        self.write("run_finish", outcome=result.outcome.value, reason=result.reason)
        path = self.dir / RESULT_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
        self.close()
        return path

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every well-formed event of a journal (a torn last line is skipped)."""
    events: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                events.append(record)
    return events
