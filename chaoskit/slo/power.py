"""Sample sizes, power and bounds for a Bernoulli bad-event rate (reference ``verdict-statistics.md`` 1.3, 1.7).

A *bad event* is a failed request (success-rate SLOs) or a request slower than the threshold (latency SLOs); the
SLO allows a bad fraction ``p0``. Everything here is closed-form or a short bisection, with no I/O and no numpy:

- :func:`mde` — the minimum detectable effect of Table E: the smallest bad rate a fixed-``n`` one-sided test at
  level ``alpha`` catches with probability ``1 - beta`` (normal approximation, as the reference computes it);
- :func:`required_requests` — the ``n`` at which that MDE reaches a given rate;
- :func:`information_bound` — Wald's lower bound on the expected requests any test with errors
  ``(alpha, beta)`` needs to tell ``p1`` from ``p0`` (the "lower bound" column of Table A);
- :func:`binomial_sf` — the exact upper tail of a binomial, for the end-of-phase test.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def z(probability: float) -> float:
    """The standard normal quantile ``z`` with ``P(Z > z) = probability``."""
    return _NORMAL.inv_cdf(1.0 - probability)


def kl(p: float, q: float) -> float:
    """Kullback-Leibler divergence ``KL(Bernoulli(p) || Bernoulli(q))`` in nats."""
    out = 0.0
    if p > 0:
        out += p * math.log(p / q)
    if p < 1:
        out += (1 - p) * math.log((1 - p) / (1 - q))
    return out


def llr_steps(p0: float, p1: float) -> tuple[float, float]:
    """Per-request log-likelihood ratio of ``p1`` against ``p0``: ``(for a bad event, for a good one)``."""
    return math.log(p1 / p0), math.log((1 - p1) / (1 - p0))


def mde(n: float, p0: float, alpha: float, beta: float) -> float:
    """The smallest bad rate ``p1 > p0`` that a one-sided fixed-``n`` test at level ``alpha`` detects with power
    ``1 - beta``: the root of ``(p1 - p0) sqrt(n) = z_a sqrt(p0 q0) + z_b sqrt(p1 q1)``. 1.0 when ``n`` is too
    small for any rate (Table E: n = 300, p0 = 1 % gives 5.4 %)."""
    if n <= 0:
        return 1.0
    za, zb = z(alpha), z(beta)
    root_n = math.sqrt(n)
    base = za * math.sqrt(p0 * (1 - p0))

    def detects(p1: float) -> bool:
        return (p1 - p0) * root_n >= base + zb * math.sqrt(p1 * (1 - p1))

    if not detects(1.0):
        return 1.0
    lo, hi = p0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if detects(mid):
            hi = mid
        else:
            lo = mid
    return hi


def required_requests(p0: float, p1: float, alpha: float, beta: float) -> int:
    """Requests at which :func:`mde` falls to ``p1`` (normal approximation, rounded up)."""
    if p1 <= p0:
        raise ValueError("p1 must exceed p0")
    root_n = (z(alpha) * math.sqrt(p0 * (1 - p0)) + z(beta) * math.sqrt(p1 * (1 - p1))) / (p1 - p0)
    return max(1, math.ceil(root_n * root_n))


def information_bound(p0: float, p1: float, alpha: float, beta: float) -> float:
    """Wald's bound ``E_p1[N] >= [(1-b) ln((1-b)/a) + b ln(b/(1-a))] / KL(p1 || p0)`` (Table A: 109 requests
    for 5 % against 1 % at alpha = beta = 1 %)."""
    num = (1 - beta) * math.log((1 - beta) / alpha) + beta * math.log(beta / (1 - alpha))
    return num / kl(p1, p0)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, p)``."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    if k <= n * p:  # the lower tail itself, summed downward (keeps tiny probabilities exact)
        return min(_sum_pmf(range(k, -1, -1), n, p), 1.0)
    return max(1.0 - binomial_sf(k + 1, n, p), 0.0)


def _sum_pmf(ks: range, n: int, p: float) -> float:
    """Sum of binomial pmf terms over ``ks``, walking away from the mode until the terms stop mattering."""
    if p <= 0 or p >= 1:
        return float(sum(1 for k in ks if k == (0 if p <= 0 else n)))
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    total = 0.0
    for i in ks:
        term = math.exp(log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        total += term
        if term < total * 1e-15:
            break
    return total


def beta_binomial_logpmf(n: int, p: float, icc: float) -> list[float]:
    """``log P(K = k)``, k = 0..n, for the bad events of one bin of ``n`` requests whose rate is Beta-distributed
    with mean ``p`` and intra-class correlation ``icc`` (binomial when ``icc`` is 0)."""
    log_c = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in range(n + 1)]
    if icc <= 0:
        lp, lq = math.log(p), math.log1p(-p)
        return [log_c[k] + k * lp + (n - k) * lq for k in range(n + 1)]
    s = 1 / icc - 1
    a, b = p * s, (1 - p) * s
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    tail = math.lgamma(n + a + b)
    return [log_c[k] + math.lgamma(k + a) + math.lgamma(n - k + b) - tail - log_beta for k in range(n + 1)]


def binomial_sf(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``, summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    if k <= n * p:  # the body of the distribution: 1 - P(X <= k - 1)
        return min(max(1.0 - _sum_pmf(range(k - 1, -1, -1), n, p), 0.0), 1.0)
    return min(_sum_pmf(range(k, n + 1), n, p), 1.0)
