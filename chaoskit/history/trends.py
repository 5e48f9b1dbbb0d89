"""Trends per experiment over its last N runs: the pass rate with a Wilson score interval, a flaky flag, and
time-to-recover (TTR) over time.

Which runs count: a run *judges* resilience when it ended PASSED, FAILED, ERROR or INCONCLUSIVE; INVALID (the
file was wrong) and INTERRUPTED (someone stopped it) say nothing about the system and are left out of the rate.
A run passes when it ended PASSED.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from chaoskit.history.record import RunRecord

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile
FLAKY_LOW, FLAKY_HIGH = Fraction(1, 10), Fraction(9, 10)
JUDGED = frozenset({"passed", "failed", "error", "inconclusive"})


def wilson_interval(passed: int, runs: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``passed`` successes in ``runs`` trials; (0, 1) when there are none.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and is not degenerate at 0 or ``runs`` passes:
    3 passes of 3 give about [44 %, 100 %], not [100 %, 100 %].
    """
    if runs < 0 or not 0 <= passed <= runs:
        raise ValueError(f"need 0 <= passed <= runs, got {passed} of {runs}")
    if runs == 0:
        return 0.0, 1.0
    p = passed / runs
    z2 = z * z
    denominator = 1 + z2 / runs
    centre = (p + z2 / (2 * runs)) / denominator
    half = z * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs)) / denominator
    # exact at the ends (the formula is, up to rounding): all passes reach 1, none reach 0
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == runs else min(1.0, centre + half)
    return low, high


def is_flaky(passed: int, runs: int) -> bool:
    """Whether the pass rate sits between 10 % and 90 % (inclusive): it neither reliably passes nor fails."""
    if runs <= 0:
        return False
    return FLAKY_LOW <= Fraction(passed, runs) <= FLAKY_HIGH  # exact: 1 of 10 is flaky, not a rounding


def theil_sen(points: Sequence[tuple[float, float]]) -> float | None:
    """The median of pairwise slopes (robust to one outlier run); None with fewer than two distinct x."""
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1:] if x2 != x1]
    return statistics.median(slopes) if slopes else None


@dataclass
class Trend:
    """One experiment over its last ``runs`` runs (newest last in the series)."""

    experiment: str
    runs: int
    judged: int
    passed: int
    low: float
    high: float
    flaky: bool
    outcomes: list[str] = field(default_factory=list)  # oldest first
    ttr: list[tuple[float, float]] = field(default_factory=list)  # (started_at, seconds), oldest first
    last: RunRecord | None = None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None

    @property
    def ttr_median(self) -> float | None:
        return statistics.median(t for _, t in self.ttr) if self.ttr else None

    @property
    def ttr_slope(self) -> float | None:
        """Change of TTR per run (seconds), by Theil-Sen over the run order; positive: recovering slower."""
        return theil_sen([(float(i), t) for i, (_, t) in enumerate(self.ttr)])

    def to_json(self) -> dict[str, object]:
        return {
            "experiment": self.experiment, "runs": self.runs, "judged": self.judged, "passed": self.passed,
            "pass_rate": self.pass_rate, "wilson_95": [self.low, self.high], "flaky": self.flaky,
            "outcomes": self.outcomes, "ttr": [{"started_at": t, "seconds": s} for t, s in self.ttr],
            "ttr_median": self.ttr_median, "ttr_slope_per_run": self.ttr_slope,
            "last_run": self.last.run_id if self.last else None,
        }


def trend(experiment: str, newest_first: Sequence[RunRecord]) -> Trend:
    runs = list(reversed(newest_first))
    judged = [r for r in runs if r.outcome in JUDGED]
    passed = sum(r.outcome == "passed" for r in judged)
    low, high = wilson_interval(passed, len(judged))
    return Trend(
        experiment=experiment,
        runs=len(runs),
        judged=len(judged),
        passed=passed,
        low=low,
        high=high,
        flaky=is_flaky(passed, len(judged)),
        outcomes=[r.outcome for r in runs],
        ttr=[(r.started_at, r.ttr) for r in runs if r.ttr is not None],
        last=runs[-1] if runs else None,
    )


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    return "".join(SPARKS[0 if span == 0 else min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))]
                   for v in values)
