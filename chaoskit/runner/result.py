"""What a run concludes: the outcome, each SLO verdict per phase, and each fault's ledger story."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Outcome(enum.Enum):
    """The outcome of a run; ``exit_code`` is what ``chaoskit run`` exits with."""

    PASSED = "passed"
    FAILED = "failed"
    INVALID = "invalid"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Outcome.PASSED: 0,
    Outcome.FAILED: 1,
    Outcome.INVALID: 2,
    Outcome.ERROR: 3,
    Outcome.INCONCLUSIVE: 4,
    Outcome.INTERRUPTED: 130,
}


class Status(enum.Enum):
    """How one SLO fared in one phase."""

    MET = "met"
    BREACHED = "breached"
    INSUFFICIENT = "insufficient"  # too little evidence to tell


@dataclass(frozen=True)
class Evidence:
    requests: int
    errors: int
    windows: int
    seconds: float


@dataclass(frozen=True)
class SloVerdict:
    """One SLO judged over one phase."""

    slo: str
    sli: str
    phase: str
    fault: str | None
    status: Status
    objective: str
    observed: float | None
    observed_text: str
    evidence: Evidence
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass
class FaultRecord:
    """What happened to one fault: when it was injected, reverted, verified, and how the system recovered."""

    name: str
    type: str
    target: str
    ledger_id: str | None = None
    injected_at: float | None = None
    reverted_at: float | None = None
    verified: bool = False
    aborted: bool = False
    abort_reason: str | None = None
    recovery_seconds: float | None = None
    recovered: bool | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """The final result of a run, written as ``result.json`` beside the journal."""

    run_id: str
    title: str
    source: str | None
    outcome: Outcome
    reason: str
    started_at: float
    finished_at: float
    verdicts: list[SloVerdict] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    journal: str | None = None

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    def breaches(self) -> list[SloVerdict]:
        return [v for v in self.verdicts if v.status is Status.BREACHED]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "title": self.title,
            "source": self.source,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "verdicts": [v.to_json() for v in self.verdicts],
            "faults": [f.to_json() for f in self.faults],
            "journal": self.journal,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            run_id=data["run_id"],
            title=data["title"],
            source=data.get("source"),
            outcome=Outcome(data["outcome"]),
            reason=data["reason"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            verdicts=[
                SloVerdict(**{**v, "status": Status(v["status"]), "evidence": Evidence(**v["evidence"])})
                for v in data.get("verdicts", [])
            ],
            faults=[FaultRecord(**f) for f in data.get("faults", [])],
            journal=data.get("journal"),
        )
