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
class RelativeCheck:
    """The SLI during a phase against the baseline, per one-second bin (a one-sided Mann-Whitney U test)."""

    metric: str  # "% bad" or "ms"
    baseline_bins: int
    bins: int
    shift: float  # Hodges-Lehmann estimate, in ``metric``
    ci_low: float | None
    ci_high: float | None
    p_value: float
    classification: str  # "worse", "same" or "better"

    @property
    def text(self) -> str:
        if not self.baseline_bins or not self.bins:
            return "no baseline to compare"
        word = {"same": "no different from"}.get(self.classification, f"{self.classification} than")
        return f"{word} baseline (shift {self.shift:+.3g}{self.metric}, p={self.p_value:.2g})"


@dataclass(frozen=True)
class SloVerdict:
    """One SLO judged over one phase.

    The statistics fields are filled by the sequential judge (``chaoskit.slo.verdict``): ``decision`` is what
    its test decided ("healthy"/"unhealthy"/"undecided" at the baseline gate; "abort"/"breach"/"held"/
    "underpowered" during a fault; "recovered"/"breaching"/"censored" after it); ``p0`` the bad fraction the
    objective allows; ``bad`` the bad events counted (failed, or slower than the threshold); ``alpha`` and
    ``beta`` the test's error rates; ``mde`` the smallest bad rate the evidence would have caught with
    probability ``1 - beta`` and ``burn`` the burn (``mde / p0`` at most) a PASS needs; ``dispersion`` the
    variance inflation used; ``ttr`` and ``confirmed_at`` seconds from fault removal to the estimated
    change point and to its confirmation; ``censored`` when no recovery was confirmed in the phase.
    """

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
    decision: str | None = None
    p0: float | None = None
    bad: int | None = None
    alpha: float | None = None
    beta: float | None = None
    mde: float | None = None
    burn: float | None = None
    dispersion: float | None = None
    decided_at: int | None = None
    ttr: float | None = None
    confirmed_at: float | None = None
    censored: bool | None = None
    budget_burned: float | None = None
    relative: RelativeCheck | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SloVerdict:
        relative = data.get("relative")
        return cls(
            **{
                **data,
                "status": Status(data["status"]),
                "evidence": Evidence(**data["evidence"]),
                "relative": RelativeCheck(**relative) if relative else None,
            }
        )


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
    recovery_confirmed_after: float | None = None  # seconds from revert to the confirmation of recovery
    recovery_censored: bool | None = None  # no recovery confirmed within the recovery phase
    abort_evidence: dict[str, Any] | None = None  # the deciding window and the detector's state
    observations: dict[str, Any] | None = None  # what the fault saw of its target (Fault.observations)

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
            verdicts=[SloVerdict.from_json(v) for v in data.get("verdicts", [])],
            faults=[FaultRecord(**f) for f in data.get("faults", [])],
            journal=data.get("journal"),
        )
