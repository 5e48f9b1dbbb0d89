"""The fault ledger: a write-ahead log of what to undo.

Before a fault touches anything, an ``open`` record with its ``undo`` JSON is appended and fsync'd; after the
revert is verified, a ``close`` record follows. An entry without a ``close`` is *open*: a run crashed (or a revert
could not be verified) and ``chaoskit recover`` must undo it. The file is append-only JSON lines, so a torn last
line (a crash mid-write) loses at most that line, and readers skip it.

Concurrent runs may share one ledger: appends are single ``write`` calls on an ``O_APPEND`` descriptor, under an
advisory ``flock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.errors import LedgerError

LEDGER_FILE = "ledger.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """An injected (or about to be injected) fault and how to undo it."""

    id: str
    run_id: str
    fault: str
    kind: str
    target: str
    undo: dict[str, Any]
    opened_at: float
    host: str
    pid: int


class Ledger:
    """Append-only ledger at ``<state_dir>/ledger.jsonl``."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / LEDGER_FILE

    def open(self, *, run_id: str, fault: str, kind: str, target: str, undo: dict[str, Any]) -> LedgerEntry:
        """Record (durably) that a fault is about to be injected; returns the entry to close later."""
        entry = LedgerEntry(
            id=uuid.uuid4().hex[:12],
            run_id=run_id,
            fault=fault,
            kind=kind,
            target=target,
            undo=undo,
            opened_at=time.time(),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        self._append({"event": "open", **entry.__dict__})
        return entry

    def close(self, entry_id: str, *, how: str = "reverted") -> None:
        """Record that the fault of ``entry_id`` is verified gone (``how``: reverted, recovered, ...)."""
        self._append({"event": "close", "id": entry_id, "how": how, "closed_at": time.time()})

    def open_entries(self) -> list[LedgerEntry]:
        """Entries opened and never closed, oldest first."""
        opened: dict[str, LedgerEntry] = {}
        for record in self._records():
            if record.get("event") == "open":
                with contextlib.suppress(TypeError, KeyError):
                    fields = {k: record[k] for k in LedgerEntry.__dataclass_fields__}
                    opened[record["id"]] = LedgerEntry(**fields)
            elif record.get("event") == "close":
                opened.pop(str(record.get("id")), None)
        return list(opened.values())

    def _records(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open("r", encoding="utf-8") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn line from a crash mid-write
                    if isinstance(record, dict):
                        yield record
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LedgerError(f"cannot read the fault ledger {self.path}: {exc.strerror}", path=self.path) from exc

    def _append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise LedgerError(
                f"cannot write the fault ledger {self.path}: {exc.strerror}; nothing was injected",
                path=self.path,
            ) from exc
