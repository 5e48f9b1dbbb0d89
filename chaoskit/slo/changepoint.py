"""After a fault: time-to-recover by a CUSUM change-point detector (reference section 2, estimator E4).

From the moment the fault is removed, a CUSUM accumulates the evidence for "healthy" (bad rate ``p0 / 2``)
against "at the SLO's limit" (``p0``): ``G = max(0, G + g)`` with ``g`` the log-likelihood ratio of the two.
It alarms at ``h = ln((1 - alpha) / beta) + ln(horizon seconds)``; the alarm is "recovery confirmed at", and
Page's change-point estimate - the last time ``G`` was 0 before the alarm - is the time-to-recover. It targets
the time the bad rate crosses the middle of the indifference zone (0.72 % for a 99 % SLO) and is unbiased where
a "first good window" is 11 s early and a "last bad window" 23 s late at 100 requests/s (``ttr.py``).

When the recovery phase ends without an alarm, the detector takes one last look:

* "still breaching" (FAILED) when the second half of the phase, fixed in advance so that the recovery transient
  right after the revert does not count, has a bad rate above ``p0`` by an exact one-sided test at ``alpha``;
* else "recovered, confirmed at the end of the phase" when ``G >= ln(1 / beta)``: for a CUSUM started at 0,
  ``P(G_n >= c) <= exp(-c)`` at any single time ``n`` when the rate is ``p0`` (Ville's inequality on the
  time-reversed walk), and ``G`` forgets everything before its last zero. A 99 % SLO needs ~600 clean requests
  for this look where the alarm needs ~1,100;
* else the TTR is right-censored (too little evidence either way).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from chaoskit.slo.power import binomial_sf

ZERO_TOLERANCE_PROXY = 1e-3  # a 100 % objective is confirmed by the clean traffic that would confirm 99.9 %


class RecoveryState(enum.Enum):
    WATCHING = "watching"
    RECOVERED = "recovered"
    BREACHING = "breaching"  # censored, and the evidence says the SLO still does not hold
    CENSORED = "censored"  # censored, too little evidence either way


@dataclass
class ChangePointDetector:
    """E4 for one SLO's bad-event stream, from ``origin`` (the time the fault was removed)."""

    p0: float
    origin: float
    horizon: float
    alpha: float
    beta: float
    scale: float = 1.0  # 1 / dispersion index
    statistic: float = 0.0  # G: evidence for healthy (p0 / 2) against p0
    late_n: int = 0  # requests in the second half of the phase
    late_bad: int = 0
    last_zero: float | None = None
    confirmed: float | None = None  # time of the alarm, or of the end of the phase for the end look
    confirmed_by: str | None = None  # "change point" (the alarm) or "end look"
    last_end: float | None = None
    n: int = 0
    bad: int = 0
    state: RecoveryState = RecoveryState.WATCHING

    def __post_init__(self) -> None:
        if self.last_zero is None:
            self.last_zero = self.origin

    @property
    def threshold(self) -> float:
        return math.log((1 - self.alpha) / self.beta) + math.log(max(self.horizon, 1.0))

    @property
    def _p0(self) -> float:
        return self.p0 if self.p0 > 0 else ZERO_TOLERANCE_PROXY

    @property
    def step_bad(self) -> float:
        return math.log(0.5) if self.p0 > 0 else -math.inf  # (p0 / 2) / p0

    @property
    def step_good(self) -> float:
        p0 = self._p0
        return math.log((1 - p0 / 2) / (1 - p0))

    def update(self, end: float, requests: int, bad: int) -> bool:
        """Add the evidence of a window ending at ``end``; True once recovery is confirmed."""
        if self.state is not RecoveryState.WATCHING:
            return self.state is RecoveryState.RECOVERED
        self.n += requests
        self.bad += bad
        self.last_end = end if self.last_end is None else max(self.last_end, end)
        if self.p0 >= 1:  # the objective allows anything
            self.confirmed, self.confirmed_by, self.state = end, "change point", RecoveryState.RECOVERED
            return True
        if end > self.origin + self.horizon / 2:
            self.late_n += requests
            self.late_bad += bad
        if bad and self.p0 <= 0:  # zero tolerance: any bad event restarts the count of clean traffic
            step = -math.inf
        else:
            step = ((bad * self.step_bad if bad else 0.0) + (requests - bad) * self.step_good) * self.scale
        self.statistic = max(0.0, self.statistic + step)
        if self.statistic == 0.0:
            self.last_zero = end
        elif self.statistic >= self.threshold:
            self.confirmed, self.confirmed_by, self.state = end, "change point", RecoveryState.RECOVERED
            return True
        return False

    @property
    def ttr(self) -> float | None:
        """Seconds from fault removal to the estimated change point; None unless recovered."""
        if self.state is not RecoveryState.RECOVERED or self.last_zero is None:
            return None
        return max(self.last_zero - self.origin, 0.0)

    @property
    def confirmed_after(self) -> float | None:
        """Seconds from fault removal to the confirmation ("recovery confirmed at")."""
        return None if self.confirmed is None else max(self.confirmed - self.origin, 0.0)

    @property
    def end_threshold(self) -> float:
        return math.log(1 / self.beta)

    def late_p_value(self) -> float:
        """One-sided exact p-value of "the bad rate is at most p0" over the second half of the phase
        (dispersion-corrected)."""
        if self.p0 <= 0:
            return 0.0 if self.late_bad else 1.0
        return binomial_sf(round(self.late_bad * self.scale), round(self.late_n * self.scale), self.p0)

    def finish(self) -> RecoveryState:
        """End of the recovery phase: the single last look (still breaching / recovered / censored)."""
        if self.state is RecoveryState.WATCHING:
            if self.late_n and self.p0 < 1 and self.late_p_value() <= self.alpha:
                self.state = RecoveryState.BREACHING
            elif self.n and self.statistic >= self.end_threshold:
                self.confirmed, self.confirmed_by, self.state = self.last_end, "end look", RecoveryState.RECOVERED
            else:
                self.state = RecoveryState.CENSORED
        return self.state

    def clean_requests_to_confirm(self) -> int:
        """Clean requests still needed for the alarm, from the current statistic."""
        if self.p0 >= 1:
            return 0
        return max(math.ceil((self.threshold - self.statistic) / (self.step_good * self.scale)), 0)
