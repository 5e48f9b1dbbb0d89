"""Deciding "abort" during a fault: a bank of CUSUM detectors plus a deterministic error-budget guard.

Each detector tests the SLO's allowed bad fraction ``p0`` against a burn ``b`` (``p1 = b * p0``) with Page's
recursion ``W = max(0, W + z)`` over the per-request log-likelihood ratio ``z`` (reference 1.6), divided by the
dispersion index ``D`` measured during the baseline (1.8.4). Its threshold ``h`` is calibrated so that, at
``p = p0`` for the whole planned fault window of ``requests``, it alarms with probability ``alpha / len(bank)``;
so the bank (2x, 5x, 20x by default) falsely aborts with probability at most ``alpha`` over the window
(Bonferroni), while a 20x burn aborts in a handful of requests (Table A: 268 / 88 / 9.2 requests at 5 / 10 / 50 %
errors against a 99 % SLO).

Calibration is computed, not simulated: the CUSUM is a renewal process that restarts at 0; an *excursion* starts
with a bad event at 0 and ends back at 0 or at ``h``. :func:`excursion_alarm_probability` computes the chance
that an excursion reaches ``h`` by dynamic programming over bad events on a fine lattice; the number of
excursions in a window is ``requests / (1/p0 + E[excursion])`` (Wald), so
``P(false alarm in the window) = 1 - exp(-excursions * f(h))``. This agrees with 40,000-run simulations within
their error (0.85 % predicted vs 0.81 % simulated at the reference's h = 9.07).

Windows arrive with counts, not request order, so the runtime adds a window's whole LLR at once. That floors at
0 less often than per-request updates, so the statistic never exceeds the per-request one: false aborts stay
within the calibrated rate and detection is at most one window late.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from chaoskit.slo.power import beta_binomial_logpmf, kl, llr_steps

DEFAULT_BURNS = (2.0, 5.0, 20.0)
BUDGET_PERIOD_SECONDS = 30 * 24 * 3600.0
_CELLS = 400  # lattice cells below the threshold: calibration error well under the Monte Carlo error of 40k runs


def burn_alternative(p0: float, burn: float) -> float:
    """The bad rate a burn stands for: ``burn * p0``, capped half-way between ``p0`` and certain failure so that a
    20x burn of a 90 % SLO is still a rate (55 %)."""
    return min(burn * p0, (1.0 + p0) / 2.0)


def excursion_alarm_probability(p0: float, up: float, down: float, h: float, cells: int = _CELLS) -> float:
    """P(a CUSUM excursion started by a bad event at 0 reaches ``h`` before it returns to 0), when requests are
    bad with probability ``p0``, a bad one adds ``up`` and a good one subtracts ``down``.

    The state lives on a lattice of ``cells`` steps below ``h`` (a good request moves exactly ``m`` cells; a bad
    one's jump is split between the two nearest cells, keeping its mean), and the mass is carried from one bad
    event to the next: the goods in between are geometric, which is one backward recursion per residue class.
    """
    if h <= up:
        return 1.0
    q = 1.0 - p0
    c = min(down, h / cells)
    m = max(1, round(down / c))
    c = down / m
    # very high SLOs (p0 = 0.01 %): a good request moves far less than a cell. The goods between two bad events
    # then descend a geometric number of good steps, rounded to whole cells: P(0) = 1 - r**0.5 and
    # P(d) = r**d (r**-0.5 - r**0.5) with r = q**(cells per good step)
    fractional = down * cells < h / 4
    if fractional:
        c, m = h / cells, 1
        r = math.exp(c / down * math.log1p(-p0))
        at_zero, scale, q = 1.0 - math.sqrt(r), (1.0 / math.sqrt(r) - math.sqrt(r)) * r, r
    top = math.ceil(h / c - 1e-9)  # positions 0 .. top-1 are alive; >= top has alarmed
    # the lattice puts the threshold at top * c >= h; far from 0, f falls as exp(-h) (the LLR is a martingale
    # under p0), which corrects for the difference and keeps f smooth in h
    correction = math.exp(top * c - h)
    jump = up / c
    j0 = int(jump)
    frac = jump - j0
    keep = 1.0 - frac
    alive = [0.0] * top
    hit = 0.0
    # the first jump, from 0
    for offset, weight in ((j0, keep), (j0 + 1, frac)):
        if weight > 0:
            if offset >= top:
                hit += weight
            else:
                alive[offset] += weight

    def step(acc: float, x: float) -> float:
        return q * acc + p0 * x

    for _ in range(50_000):
        # goods: mass at k lands at j = k - g*m with probability q**g * p0 (then the bad event comes)
        landed = [0.0] * top
        if fractional:
            # S[i] = v[i] + r S[i+1]; landed[j] = P(0) v[j] + scale * S[j+1]
            tail = list(accumulate(reversed(alive), lambda acc, x: q * acc + x, initial=0.0))[::-1]
            landed = [at_zero * v + scale * t for v, t in zip(alive, tail[1:], strict=True)]
        else:
            for residue in range(m):
                column = alive[residue::m]
                filtered = list(accumulate(reversed(column), step, initial=0.0))[1:]
                filtered.reverse()
                landed[residue::m] = filtered
        landed[0] = 0.0  # reached 0: the excursion is over
        # the bad event: jump up by j0 or j0 + 1 cells
        nxt = [0.0] * top
        if j0 + 1 < top:
            shifted = landed[: top - j0 - 1]
            nxt[j0 + 1 :] = [keep * a + frac * b for a, b in zip(landed[1 : top - j0], shifted, strict=True)]
        hit += keep * sum(landed[max(top - j0, 0) :]) + frac * sum(landed[max(top - j0 - 1, 0) :])
        alive = nxt
        mass = sum(alive)
        if mass <= 1e-12 * hit or mass < 1e-300:
            break
    return min(hit * correction, 1.0)


@functools.lru_cache(maxsize=256)
def dispersion_scale(p0: float, up: float, down: float, per_bin: int, icc: float) -> float:
    """The factor ``s`` that makes ``exp(s * z)`` a martingale again when bad events cluster: the root in (0, 1] of
    ``E[exp(s * Z)] = 1``, ``Z`` the LLR of one bin of ``per_bin`` requests whose bad events are beta-binomial
    with intra-class correlation ``icc``. 1 for independent requests.

    It is close to ``1 / D`` (the quasi-likelihood correction of the reference) for a 2x detector, whose
    statistic sums many bins; the 5x and 20x detectors decide on one or two bins, where clustered errors have
    a far heavier tail than ``1 / D`` allows for (with ``1 / D`` the bank falsely aborts 1.6 % / 3.0 % of windows
    at an ICC of 0.01 / 0.05 instead of at most 1 %).
    """
    if icc <= 0 or per_bin < 2:
        return 1.0
    logpmf = beta_binomial_logpmf(per_bin, p0, icc)
    values = [(lp, k * up - (per_bin - k) * down) for k, lp in enumerate(logpmf) if lp > -60]

    def log_mgf(s: float) -> float:
        terms = [lp + s * z for lp, z in values]
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    if log_mgf(1.0) <= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if log_mgf(mid) > 0:
            hi = mid
        else:
            lo = mid
    return max(lo, 1e-6)


@functools.lru_cache(maxsize=256)
def calibrate_threshold(p0: float, p1: float, requests: float, alpha: float) -> float:
    """The threshold ``h`` at which a CUSUM of ``p1`` against ``p0`` alarms with probability ``alpha`` within
    ``requests`` requests at ``p = p0``."""
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
    up, good = llr_steps(p0, p1)
    down = -good
    drift0 = p0 * up - (1 - p0) * down  # < 0: E[z] under p0
    cycle = 1.0 / p0 + up / -drift0  # requests per excursion cycle (Wald)
    rise = kl(p1, p0)  # per-request drift of the excursions that do alarm

    def target(h: float) -> float:
        # an excursion that alarms needs about (h - up) / rise requests to get there: the end of the window
        # is no time to start one
        effective = max(requests - max(h - up, 0.0) / rise, requests / 2)
        return -math.log1p(-alpha) * cycle / effective

    h = max(math.log(1.0 / target(up)), up * 1.01)
    for _ in range(12):
        f = excursion_alarm_probability(p0, up, down, h)
        if f <= 0:
            h *= 0.9
            continue
        step = math.log(f / target(h))
        h = max(h + step, 1e-3)
        if abs(step) < 1e-3:
            break
    return h


@dataclass
class Cusum:
    """One detector: ``p0`` against ``p1 = burn * p0``, alarming at ``threshold``."""

    burn: float
    p0: float
    p1: float
    threshold: float
    scale: float = 1.0  # 1 / dispersion index
    statistic: float = 0.0
    peak: float = 0.0
    up: float = field(init=False)
    down: float = field(init=False)

    def __post_init__(self) -> None:
        if self.p0 <= 0:  # zero tolerance: one bad event is conclusive
            self.up, self.down = math.inf, 0.0
            return
        up, good = llr_steps(self.p0, self.p1)
        self.up, self.down = up, -good

    def update(self, requests: int, bad: int) -> bool:
        """Add a window's (or one request's) evidence; True when the detector alarms."""
        self.statistic = max(0.0, self.statistic + (bad * self.up - (requests - bad) * self.down) * self.scale)
        if self.statistic > self.peak:
            self.peak = self.statistic
        return self.statistic >= self.threshold


@dataclass
class CusumBank:
    """Detectors for several burns of one SLO, jointly calibrated to ``alpha`` over ``requests``.

    A zero-tolerance objective (``p0 == 0``) alarms on the first bad event; an objective that allows everything
    has no detectors.
    """

    p0: float
    alpha: float
    requests: float
    dispersion: float = 1.0  # D at one-second bins, for the record; the detectors carry their own scales
    detectors: list[Cusum] = field(default_factory=list)
    n: int = 0
    bad: int = 0
    alarm: Cusum | None = None
    zero_tolerance: bool = False

    @classmethod
    def design(
        cls, p0: float, *, burns: Sequence[float] = DEFAULT_BURNS, requests: float, alpha: float,
        dispersion: float = 1.0, icc: float = 0.0, per_second: float = 0.0,
    ) -> CusumBank:
        """Build the bank: one detector per distinct ``p1`` among the burns, each at ``alpha / len(bank)``.

        Clustered bad events are corrected for either by the intra-second correlation ``icc`` measured at
        ``per_second`` requests per second (each detector's exact scale, :func:`dispersion_scale`), or, without
        it, by dividing every LLR by the dispersion index ``dispersion``.
        """
        if icc > 0 and per_second >= 2:
            dispersion = 1.0 + (per_second - 1.0) * icc
        bank = cls(p0=p0, alpha=alpha, requests=requests, dispersion=max(dispersion, 1.0))
        if p0 <= 0:
            bank.zero_tolerance = True
            return bank
        if p0 >= 1:
            return bank
        alternatives = sorted({round(burn_alternative(p0, b), 12) for b in burns if b > 1})
        alternatives = [p1 for p1 in alternatives if p1 > p0]
        share = alpha / max(len(alternatives), 1)
        window = max(requests, 1.0)
        for p1 in alternatives:
            threshold = calibrate_threshold(p0, p1, float(round(window)), share)
            detector = Cusum(p1 / p0, p0, p1, threshold, scale=1.0 / bank.dispersion)
            if icc > 0 and per_second >= 2:
                detector.scale = dispersion_scale(p0, detector.up, detector.down, round(per_second), icc)
            bank.detectors.append(detector)
        return bank

    def update(self, requests: int, bad: int) -> Cusum | None:
        """Add evidence; returns the detector that alarmed (the first, once), else None."""
        self.n += requests
        self.bad += bad
        if self.alarm is not None:
            return None
        if self.zero_tolerance:
            if bad > 0:
                self.alarm = Cusum(math.inf, 0.0, 1.0, 0.0)
                return self.alarm
            return None
        for detector in self.detectors:
            if detector.update(requests, bad) and self.alarm is None:
                self.alarm = detector
        return self.alarm

    def reset(self) -> None:
        for detector in self.detectors:
            detector.statistic = detector.peak = 0.0
        self.n = self.bad = 0
        self.alarm = None

    def to_json(self) -> dict[str, Any]:
        return {
            "p0": self.p0,
            "alpha": self.alpha,
            "planned_requests": round(self.requests),
            "dispersion": self.dispersion,
            "requests": self.n,
            "bad": self.bad,
            "detectors": [
                {"burn": round(d.burn, 3), "p1": d.p1, "threshold": round(d.threshold, 3), "scale": round(d.scale, 4),
                 "statistic": round(d.statistic, 3), "peak": round(d.peak, 3)}
                for d in self.detectors
            ],
        }  # fmt: skip


@dataclass
class BudgetGuard:
    """Deterministic cap (design target 8): abort once the experiment's bad events reach ``fraction`` of the
    30-day error budget, ``p0 * production_rate * 30 days`` bad events."""

    p0: float
    production_rate: float
    fraction: float
    bad: int = 0

    @property
    def allowed(self) -> float:
        return self.fraction * self.p0 * self.production_rate * BUDGET_PERIOD_SECONDS

    @property
    def burned(self) -> float:
        """Share of the 30-day budget burned so far (0.02 = 2 %)."""
        budget = self.p0 * self.production_rate * BUDGET_PERIOD_SECONDS
        return self.bad / budget if budget > 0 else 0.0

    def update(self, bad: int) -> bool:
        self.bad += bad
        return self.p0 > 0 and self.production_rate > 0 and self.bad >= max(self.allowed, 1.0)
