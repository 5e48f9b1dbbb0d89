"""Aggregating windows into SLIs: the evidence one SLO has over a span of time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chaoskit.experiment.model import LatencySlo, Slo, SuccessRateSlo, ThroughputSlo
from chaoskit.slo.histogram import LatencyHistogram
from chaoskit.slo.window import Window


def matches(slo: Slo, window: Window) -> bool:
    """Whether a window counts as evidence for an SLO (its ``request`` and ``source`` filters)."""
    return (slo.request is None or slo.request == window.name) and (slo.source is None or slo.source == window.source)


@dataclass
class Aggregate:
    """Windows merged: request and error counts, slow counts per threshold, one histogram, the time span."""

    count: int = 0
    errors: int = 0
    slower: dict[float, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    windows: int = 0
    start: float | None = None
    end: float | None = None

    def add(self, window: Window) -> None:
        self.count += window.count
        self.errors += window.errors
        for threshold, n in window.slower.items():
            self.slower[threshold] = self.slower.get(threshold, 0) + n
        self.histogram.merge(window.histogram)
        self.windows += 1
        self.start = window.start if self.start is None else min(self.start, window.start)
        self.end = window.end if self.end is None else max(self.end, window.end)

    @classmethod
    def of(cls, windows: Iterable[Window]) -> Aggregate:
        agg = cls()
        for w in windows:
            agg.add(w)
        return agg

    @property
    def seconds(self) -> float:
        return 0.0 if self.start is None or self.end is None else max(self.end - self.start, 0.0)

    def success_rate(self) -> float | None:
        return None if not self.count else 1 - self.errors / self.count

    def slow_fraction(self, threshold: float) -> float | None:
        """Share of requests slower than ``threshold``; exact when sources counted that threshold."""
        if not self.count:
            return None
        slow = self.slower.get(threshold)
        if slow is None:
            slow = self.histogram.count_above(threshold)
        return slow / self.count


@dataclass(frozen=True)
class Reading:
    """The value of an SLI over some evidence and whether an objective holds for it."""

    value: float | None
    text: str
    holds: bool | None  # None: no evidence at all
    bad_fraction_allowed: float | None  # the error budget as a fraction, for evidence sizing


def read(slo: Slo, agg: Aggregate, *, during: bool, span: float | None = None) -> Reading:
    """Evaluate ``slo`` (its relaxed ``during`` objective if asked and declared) over ``agg``."""
    if isinstance(slo, SuccessRateSlo):
        objective = slo.during.objective if during and slo.during else slo.objective
        value = agg.success_rate()
        if value is None:
            return Reading(None, "no requests", None, 1 - objective.value)
        return Reading(value, f"{value:.2%}", objective.holds(value), 1 - objective.value)
    if isinstance(slo, LatencySlo):
        threshold = slo.during.threshold if during and slo.during else slo.threshold
        allowed = 1 - slo.percentile / 100
        quantile = agg.histogram.quantile(slo.percentile / 100)
        slow = agg.slow_fraction(threshold)
        if quantile is None or slow is None:
            return Reading(None, "no requests", None, allowed)
        # the percentile holds exactly when no more than (100 - p) % of requests are slower than the threshold
        return Reading(quantile, f"p{slo.percentile:g} {quantile * 1000:.1f}ms", slow <= allowed + 1e-12, allowed)
    assert isinstance(slo, ThroughputSlo)
    objective = slo.during.objective if during and slo.during else slo.objective
    seconds = span if span is not None else agg.seconds
    if seconds <= 0:
        return Reading(None, "no time observed", None, None)
    rate = agg.count / seconds
    return Reading(rate, f"{rate:.1f}/s", objective.holds(rate), None)
