"""What a game day concludes: each experiment's part, the overall outcome, and the JSON summary notified."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from chaoskit.runner.result import Outcome

SCHEMA = "chaoskit.gameday/1"
SKIPPED = "skipped"  # an experiment the game day did not start (deadline, stop on failure, interrupted)

# the game day's outcome is its most serious experiment outcome, in the order `chaoskit run` uses for exit codes
SEVERITY = [Outcome.PASSED, Outcome.INCONCLUSIVE, Outcome.FAILED, Outcome.ERROR, Outcome.INVALID, Outcome.INTERRUPTED]
# outcomes after which ``stop_on_failure`` skips the remaining steps (INCONCLUSIVE is too little evidence, not a
# failure)
STOPPING = {Outcome.FAILED, Outcome.ERROR, Outcome.INVALID, Outcome.INTERRUPTED}


def iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


@dataclass
class ExperimentRun:
    """One experiment of a game day: how its run ended (``outcome`` is an Outcome value or ``skipped``)."""

    path: str
    stage: int
    outcome: str
    reason: str
    title: str | None = None
    run_id: str | None = None
    journal: str | None = None
    reports: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    ttr: float | None = None  # the longest time-to-recover of its faults, seconds
    exit_code: int | None = None
    log: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "duration": self.duration}


@dataclass
class GameDayResult:
    """The result of one game-day run, written as ``summary.json`` in its directory and sent to the webhook."""

    gameday: str
    run_id: str
    source: str
    trigger: str  # "manual" or "schedule"
    outcome: Outcome
    reason: str
    started_at: float
    finished_at: float
    slot: str | None = None  # the cron slot this run was started for (ISO 8601 with its time zone)
    directory: str | None = None
    deadline_reached: bool = False
    stopped_early: bool = False
    experiments: list[ExperimentRun] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for run in self.experiments:
            out[run.outcome] = out.get(run.outcome, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "gameday": self.gameday,
            "run_id": self.run_id,
            "source": self.source,
            "trigger": self.trigger,
            "slot": self.slot,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration": round(self.finished_at - self.started_at, 3),
            "deadline_reached": self.deadline_reached,
            "stopped_early": self.stopped_early,
            "counts": self.counts(),
            "experiments": [run.to_json() for run in self.experiments],
            "directory": self.directory,
            "host": socket.gethostname(),
            "notifications": self.notifications,
        }


def conclude(runs: list[ExperimentRun], *, deadline_reached: bool, interrupted: bool) -> tuple[Outcome, str]:
    """The overall outcome (the most serious) and a one-line reason naming what decided it."""
    outcomes = [Outcome(r.outcome) for r in runs if r.outcome != SKIPPED]
    skipped = sum(r.outcome == SKIPPED for r in runs)
    if deadline_reached or interrupted:
        outcomes.append(Outcome.INTERRUPTED)
    if not outcomes:
        return Outcome.INTERRUPTED, "no experiment ran"
    worst = max(outcomes, key=SEVERITY.index)
    passed = sum(o is Outcome.PASSED for o in outcomes)
    ran = sum(r.outcome != SKIPPED for r in runs)
    parts = [f"{passed} of {ran} experiment(s) passed"]
    culprits = [r for r in runs if r.outcome == worst.value and worst is not Outcome.PASSED]
    if culprits:
        first = culprits[0]
        parts.append(f"{worst.value}: {first.title or first.path}: {first.reason}")
    if deadline_reached:
        parts.append("the deadline was reached")
    elif interrupted:
        parts.append("interrupted")
    if skipped:
        parts.append(f"{skipped} skipped")
    return worst, "; ".join(parts)
