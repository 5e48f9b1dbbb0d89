"""Watching a fault while it is active: the abort decision, fed one window at a time by the runner.

For each bad-event SLO a :class:`~chaoskit.slo.cusum.CusumBank` (calibrated to the SLO's alpha over the planned
fault window) and a :class:`~chaoskit.slo.cusum.BudgetGuard`; beside them the experiment's own deterministic
``guardrails.abort_when`` rule. The first to trip returns an :class:`Abort` naming the deciding window and the
evidence, which the runner journals before it reverts the fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaoskit.slo.badevents import BadEventSli
from chaoskit.slo.cusum import BudgetGuard, CusumBank
from chaoskit.slo.recovery import AbortGuard
from chaoskit.slo.window import Window


@dataclass(frozen=True)
class Abort:
    """Why a fault was stopped: ``kind`` is "cusum", "budget" or "guardrail"; ``slo`` None for a guardrail."""

    reason: str
    kind: str
    slo: str | None
    window: dict[str, Any]
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "kind": self.kind, "slo": self.slo, "window": self.window,
                "evidence": self.evidence}  # fmt: skip


@dataclass
class SloWatch:
    """One SLO's detectors during one fault."""

    sli: BadEventSli
    bank: CusumBank
    budget: BudgetGuard | None = None
    tripped: Abort | None = None


def window_summary(window: Window) -> dict[str, Any]:
    """A window as the journal shows it beside an abort (without its histogram)."""
    return {
        "start": window.start, "end": window.end, "source": window.source, "name": window.name,
        "count": window.count, "errors": window.errors, "slower": {repr(k): v for k, v in window.slower.items()},
    }  # fmt: skip


@dataclass
class FaultMonitor:
    """The abort decision for one fault episode."""

    fault: str
    watches: dict[str, SloWatch] = field(default_factory=dict)
    guardrail: AbortGuard | None = None
    abort: Abort | None = None

    def feed(self, window: Window) -> Abort | None:
        """Add a window; returns the :class:`Abort` when this window decides to stop the fault (once)."""
        if self.abort is not None:
            return None
        for name, watch in self.watches.items():
            counts = watch.sli.counts(window)
            if counts is None:
                continue
            n, bad = counts
            detector = watch.bank.update(n, bad)
            if detector is not None:
                bank = watch.bank
                burn = "any bad event" if bank.zero_tolerance else f"the {detector.burn:g}x burn detector"
                reason = (
                    f"{bank.bad} of {bank.n} requests {watch.sli.noun} (allowed {watch.sli.p0:.3g}): {burn} "
                    f"crossed its threshold {detector.threshold:.2f} (false-abort rate <= {bank.alpha:.2g} over "
                    f"{bank.requests:.0f} planned requests)"
                )
                watch.tripped = self._trip(reason, "cusum", name, window, bank.to_json())
                return watch.tripped
            if watch.budget is not None and watch.budget.update(bad):
                guard = watch.budget
                reason = (
                    f"{guard.bad} bad events burned {guard.burned:.2%} of the 30-day error budget "
                    f"(limit {guard.fraction:.2%} at {guard.production_rate:g} requests/s)"
                )
                evidence = {"bad": guard.bad, "allowed": guard.allowed, "burned": guard.burned}
                watch.tripped = self._trip(reason, "budget", name, window, evidence)
                return watch.tripped
        if self.guardrail is not None:
            reason_text = self.guardrail.feed(window)
            if reason_text is not None:
                return self._trip(reason_text, "guardrail", None, window, {})
        return None

    def _trip(self, reason: str, kind: str, slo: str | None, window: Window, evidence: dict[str, Any]) -> Abort:
        self.abort = Abort(reason, kind, slo, window_summary(window), evidence)
        return self.abort
