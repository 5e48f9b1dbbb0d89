"""Before a fault: Wald's SPRT as a steady-state gate, and the dispersion of bad events per second.

The gate tests "healthy" (bad rate ``p0 / 2``) against "at the SLO's limit" (``p0``) on the baseline's windows in
order (reference 1.8.1) and must *accept* healthy before anything is injected. Its log-likelihood ratio is
divided by the dispersion index ``D`` measured on the same baseline (1.8.4): bursty errors (requests of one
second failing together) make the Bernoulli LLR overconfident by about ``D`` (Table D: at a per-second ICC of
0.01 and 100 requests/s, ``D = 1.99`` and an uncorrected CUSUM falsely aborts 28.8 % of windows instead of 1 %).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass

DISPERSION_WARNING = 3.0


class Decision(enum.Enum):
    ACCEPT = "accept"  # the low rate (healthy)
    REJECT = "reject"  # the high rate
    UNDECIDED = "undecided"


@dataclass
class Sprt:
    """Wald's SPRT of ``p_low`` (accept) against ``p_high`` (reject) on counts of bad events.

    ``alpha`` is the chance of rejecting when the rate is ``p_low``, ``beta`` of accepting when it is ``p_high``.
    Boundaries ``ln(beta / (1 - alpha))`` and ``ln((1 - beta) / alpha)``; the decision, once made, stands.
    """

    p_low: float
    p_high: float
    alpha: float
    beta: float
    scale: float = 1.0  # 1 / dispersion index
    llr: float = 0.0
    n: int = 0
    bad: int = 0
    decision: Decision = Decision.UNDECIDED
    decided_at: int | None = None  # requests seen when the decision was made

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1 - self.alpha))

    @property
    def upper(self) -> float:
        return math.log((1 - self.beta) / self.alpha)

    @property
    def step_bad(self) -> float:
        return math.log(self.p_high / self.p_low)

    @property
    def step_good(self) -> float:
        return math.log((1 - self.p_high) / (1 - self.p_low))

    def update(self, requests: int, bad: int) -> Decision:
        if self.decision is not Decision.UNDECIDED:
            return self.decision
        self.n += requests
        self.bad += bad
        self.llr += (bad * self.step_bad + (requests - bad) * self.step_good) * self.scale
        if self.llr <= self.lower:
            self.decision, self.decided_at = Decision.ACCEPT, self.n
        elif self.llr >= self.upper:
            self.decision, self.decided_at = Decision.REJECT, self.n
        return self.decision

    def requests_to_accept(self) -> int:
        """Clean requests still needed to accept from here (none bad): what to tell a user whose gate is
        undecided."""
        if self.decision is Decision.ACCEPT:
            return 0
        per_request = -self.step_good * self.scale
        return max(math.ceil((self.llr - self.lower) / per_request), 1)


def steady_state_gate(p0: float, *, alpha: float, beta: float, dispersion: float = 1.0) -> Sprt:
    """The gate: ``p0 / 2`` ("healthy") against ``p0``. ``alpha``: chance of refusing a healthy target;
    ``beta``: chance of accepting one already at its SLO's limit."""
    return Sprt(p0 / 2, p0, alpha, beta, scale=1.0 / max(dispersion, 1.0))


@dataclass(frozen=True)
class Dispersion:
    """Variance inflation of bad events counted per ``bin_seconds``, against a Bernoulli stream.

    ``index`` is Pearson's X^2 / (bins - 1), floored at 1 (it can only make tests more cautious); ``icc`` the
    intra-bin correlation it implies, ``D = 1 + (m - 1) icc`` at ``m`` requests per bin.
    """

    index: float
    icc: float
    bins: int
    requests_per_bin: float
    bad: int
    bin_seconds: float = 1.0

    @property
    def warning(self) -> str | None:
        if self.index > DISPERSION_WARNING:
            return (f"bad events are bursty (dispersion {self.index:.1f} > {DISPERSION_WARNING:g}): the SLI may be "
                    "mis-specified, e.g. one client's pattern dominates")  # fmt: skip
        return None

    def at(self, requests_per_bin: float) -> float:
        """The index for bins of another size (the correlation is a property of the traffic, not of the bins)."""
        return max(1.0, 1.0 + (requests_per_bin - 1.0) * self.icc)


NO_DISPERSION = Dispersion(1.0, 0.0, 0, 0.0, 0)


def estimate_dispersion(
    samples: Iterable[tuple[float, int, int]], *, bin_seconds: float = 1.0, origin: float | None = None
) -> Dispersion:
    """Estimate the dispersion of ``(time, requests, bad)`` samples binned by ``bin_seconds``.

    With no bad event at all, or fewer than 3 bins, nothing can be estimated and the index is 1.
    """
    bins: dict[int, list[int]] = {}
    rows = list(samples)
    if not rows:
        return NO_DISPERSION
    t0 = origin if origin is not None else min(t for t, _, _ in rows)
    for t, n, k in rows:
        cell = bins.setdefault(math.floor((t - t0) / bin_seconds), [0, 0])
        cell[0] += n
        cell[1] += k
    counts = [(n, k) for n, k in bins.values() if n > 0]
    total = sum(n for n, _ in counts)
    bad = sum(k for _, k in counts)
    if len(counts) < 3 or bad == 0 or bad == total:
        return Dispersion(1.0, 0.0, len(counts), total / max(len(counts), 1), bad, bin_seconds)
    p = bad / total
    x2 = sum((k - n * p) ** 2 / (n * p * (1 - p)) for n, k in counts)
    index = x2 / (len(counts) - 1)
    # the "average" bin size for unequal bins (as in one-way ANOVA)
    m = (total - sum(n * n for n, _ in counts) / total) / (len(counts) - 1)
    icc = max(0.0, (index - 1.0) / (m - 1.0)) if m > 1 else 0.0
    return Dispersion(max(index, 1.0), icc, len(counts), total / len(counts), bad, bin_seconds)
