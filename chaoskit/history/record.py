"""What the history keeps of one run: its outcome, verdict figures, time-to-recover, duration and where its
journal is. Built from a :class:`~chaoskit.runner.result.RunResult`, reading verdict fields defensively (the
verdict statistics grow over time; whatever scalar figures a verdict has are kept)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.runner.result import RunResult

REPORT_NAMES = ("report.html",)  # a run's HTML report, when something wrote one beside its journal


@dataclass
class RunRecord:
    """One row of the history."""

    run_id: str
    experiment: str  # the experiment's title: runs are grouped by it
    outcome: str
    reason: str
    started_at: float
    finished_at: float
    source: str | None = None
    ttr: float | None = None  # the longest measured time-to-recover of the run's faults, seconds
    recovered: bool | None = None  # every fault's recovery confirmed (None: nothing measured)
    breaches: int = 0
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    journal: str | None = None
    via: str = "api"  # cli, pytest, gameday or api
    gameday: str | None = None
    gameday_run: str | None = None
    host: str | None = None
    version: str | None = None

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    @property
    def run_dir(self) -> Path | None:
        return Path(self.journal).parent if self.journal else None

    def report(self) -> Path | None:
        """The run's HTML report if one was written beside its journal."""
        if self.run_dir is None:
            return None
        for name in REPORT_NAMES:
            candidate = self.run_dir / name
            if candidate.is_file():
                return candidate
        return None

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "duration": self.duration}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in row.items() if k in names}
        for key in ("verdicts", "faults"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
        if data.get("recovered") is not None:
            data["recovered"] = bool(data["recovered"])
        return cls(**data)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def verdict_figures(verdict: Any) -> dict[str, Any]:
    """A verdict's scalar figures (objective, observed, decision, mde, ttr, ...) and its evidence counts."""
    try:
        data = verdict.to_json()
    except Exception:
        is_instance = dataclasses.is_dataclass(verdict) and not isinstance(verdict, type)
        data = dataclasses.asdict(verdict) if is_instance else {}
    out = {k: v for k, v in data.items() if _scalar(v)}
    evidence = data.get("evidence")
    if isinstance(evidence, dict):
        out.update({k: v for k, v in evidence.items() if _scalar(v)})
    relative = data.get("relative")
    if isinstance(relative, dict):
        out.update({f"relative_{k}": v for k, v in relative.items() if _scalar(v)})
    return out


def record_of(result: RunResult, *, via: str = "api", gameday: str | None = None, gameday_run: str | None = None,
              host: str | None = None, version: str | None = None) -> RunRecord:
    faults = []
    for f in result.faults:
        faults.append({key: getattr(f, key, None) for key in (
            "name", "type", "target", "recovery_seconds", "recovered", "aborted", "verified", "error")})
    measured = [float(f["recovery_seconds"]) for f in faults if isinstance(f["recovery_seconds"], int | float)]
    judged = [f["recovered"] for f in faults if f["recovered"] is not None]
    return RunRecord(
        run_id=result.run_id,
        experiment=result.title,
        outcome=result.outcome.value,
        reason=result.reason,
        started_at=result.started_at,
        finished_at=result.finished_at,
        source=result.source,
        ttr=max(measured) if measured else None,
        recovered=all(judged) if judged else None,
        breaches=len(result.breaches()),
        verdicts=[verdict_figures(v) for v in result.verdicts],
        faults=faults,
        journal=result.journal,
        via=via,
        gameday=gameday,
        gameday_run=gameday_run,
        host=host,
        version=version,
    )
