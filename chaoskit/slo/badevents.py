"""The bad-event view of an SLO: which windows count, how many of their requests were bad, and the bad fraction
the objective allows (``p0``).

A success-rate SLO ``>= 99%`` allows ``p0 = 1%`` failed requests. A latency SLO ``p95 <= 200ms`` holds exactly
when at most ``p0 = 5%`` of requests are slower than 200 ms (reference 1.4), so both are tests of one Bernoulli
rate, counted exactly by the sources (``Window.slower``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit.experiment.model import LatencySlo, Slo, SuccessRateSlo
from chaoskit.slo.evidence import matches
from chaoskit.slo.window import Window


@dataclass(frozen=True)
class BadEventSli:
    """One SLO (in one phase) as a bad-event indicator with an allowed bad fraction ``p0``."""

    slo: Slo
    p0: float
    threshold: float | None  # latency SLOs: "bad" means slower than this many seconds
    objective: str

    def counts(self, window: Window) -> tuple[int, int] | None:
        """``(requests, bad events)`` of a window, or None when the window is not evidence for this SLO."""
        if not matches(self.slo, window):
            return None
        if self.threshold is None:
            return window.count, window.errors
        slow = window.slower.get(self.threshold)
        if slow is None:
            slow = window.histogram.count_above(self.threshold)
        return window.count, min(slow, window.count)

    @property
    def noun(self) -> str:
        """What a bad event is, for messages."""
        return "failed" if self.threshold is None else f"slower than {self.threshold * 1000:g}ms"


def bad_event_sli(slo: Slo, *, during: bool) -> BadEventSli | None:
    """The bad-event view of ``slo`` (its relaxed ``during`` objective if asked and declared), or None when the
    SLO is not a bound on a bad fraction (throughput, or a success rate bounded from above)."""
    if isinstance(slo, SuccessRateSlo):
        objective = slo.during.objective if during and slo.during else slo.objective
        if objective.op not in (">=", ">"):
            return None
        return BadEventSli(slo, min(max(1.0 - objective.value, 0.0), 1.0), None, str(objective))
    if isinstance(slo, LatencySlo):
        threshold = slo.during.threshold if during and slo.during else slo.threshold
        return BadEventSli(slo, 1.0 - slo.percentile / 100, threshold, f"p{slo.percentile:g} <= {threshold * 1000:g}ms")
    return None
