"""Watching a fault: the guardrail that aborts it, and what confirms recovery after revert.

``RecoveryTracker`` is the v1 rule (every SLO holds for ``settle``); :class:`RecoveryDetector` runs the
change-point detector of :mod:`chaoskit.slo.changepoint` per bad-event SLO and keeps the v1 rule only for the
SLOs that are not bad-event fractions (throughput).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.experiment.model import AbortWhen, Slo, ThroughputSlo
from chaoskit.slo.badevents import BadEventSli
from chaoskit.slo.changepoint import ChangePointDetector, RecoveryState
from chaoskit.slo.evidence import Aggregate, matches, read
from chaoskit.slo.window import Window


class AbortGuard:
    """Trips when, over the last ``over`` seconds, the success rate falls below ``abort_when.success_rate`` (with
    at least ``min_requests``), or when the fault has caused ``error_count`` failed requests in all."""

    def __init__(self, rule: AbortWhen) -> None:
        self.rule = rule
        self._recent: deque[Window] = deque()
        self._errors = 0

    def feed(self, window: Window) -> str | None:
        """Add a window; returns the reason to abort, or None."""
        self._recent.append(window)
        self._errors += window.errors
        while self._recent and self._recent[0].end < window.end - self.rule.over:
            self._recent.popleft()
        if self.rule.error_count is not None and self._errors >= self.rule.error_count:
            return f"{self._errors} failed requests >= error_count {self.rule.error_count}"
        if self.rule.success_rate is not None:
            agg = Aggregate.of(self._recent)
            rate = agg.success_rate()
            if rate is not None and agg.count >= self.rule.min_requests and self.rule.success_rate.holds(rate):
                return (
                    f"success rate {rate:.1%} over the last {self.rule.over:g}s ({agg.count} requests) "
                    f"meets abort_when {self.rule.success_rate}"
                )
        return None


@dataclass(frozen=True)
class Recovery:
    recovered_at: float
    ttr: float
    confirmed_at: float | None = None  # when the evidence confirmed it (the change-point detector's alarm)


class RecoveryTracker:
    """Confirms recovery: the earliest time ``s`` after revert from which every SLO holds over ``[s, now]``
    for at least ``settle`` seconds. Time-to-recover is ``s - reverted_at``."""

    def __init__(self, slos: Sequence[Slo], *, reverted_at: float, settle: float) -> None:
        self.slos = list(slos)
        self.reverted_at = reverted_at
        self.settle = settle
        self.windows: list[Window] = []

    def feed(self, window: Window) -> Recovery | None:
        if window.end < self.reverted_at:
            return None
        self.windows.append(window)
        now = window.end
        starts = sorted({self.reverted_at, *(w.start for w in self.windows if w.start >= self.reverted_at)})
        for start in starts:
            if now - start < self.settle:
                break
            span = [w for w in self.windows if w.start >= start]
            if self._healthy(span, now - start):
                return Recovery(recovered_at=start, ttr=max(start - self.reverted_at, 0.0))
        return None

    def _healthy(self, windows: list[Window], span: float) -> bool:
        if not windows:
            return False
        for slo in self.slos:
            agg = Aggregate.of(w for w in windows if matches(slo, w))
            reading = read(slo, agg, during=False, span=span if isinstance(slo, ThroughputSlo) else None)
            if not reading.holds:
                return False
        return True


class RecoveryDetector:
    """Confirms recovery after revert: every bad-event SLO's change-point detector has alarmed (and the v1
    ``tracker`` holds for the others). The TTR is the latest change point among the SLOs."""

    def __init__(
        self, detectors: dict[str, tuple[BadEventSli, ChangePointDetector]], *, reverted_at: float,
        tracker: RecoveryTracker | None = None,
    ) -> None:
        self.detectors = detectors
        self.reverted_at = reverted_at
        self.tracker = tracker
        self.tracked: Recovery | None = None

    def feed(self, window: Window) -> Recovery | None:
        if window.end < self.reverted_at:
            return None
        for sli, detector in self.detectors.values():
            counts = sli.counts(window)
            if counts is not None:
                detector.update(window.end, *counts)
        if self.tracker is not None and self.tracked is None:
            self.tracked = self.tracker.feed(window)
        return self.recovery()

    def recovery(self) -> Recovery | None:
        if self.tracker is not None and self.tracked is None:
            return None
        if any(d.state is not RecoveryState.RECOVERED for _, d in self.detectors.values()):
            return None
        ttrs = [d.ttr or 0.0 for _, d in self.detectors.values()]
        confirmations = [d.confirmed for _, d in self.detectors.values() if d.confirmed is not None]
        if self.tracked is not None:
            ttrs.append(self.tracked.ttr)
            confirmations.append(self.tracked.recovered_at + (self.tracker.settle if self.tracker else 0.0))
        ttr = max(ttrs, default=0.0)
        return Recovery(self.reverted_at + ttr, ttr, max(confirmations, default=self.reverted_at))

    def finish(self) -> None:
        """The recovery phase is over: censor every detector that has not confirmed."""
        for _, detector in self.detectors.values():
            detector.finish()

    def detector(self, slo: str) -> ChangePointDetector | None:
        entry = self.detectors.get(slo)
        return entry[1] if entry is not None else None
