"""Power, MDE and bounds against the reference's tables (verdict-statistics.md, Tables A and E)."""

from __future__ import annotations

import math

import pytest

from chaoskit.slo.power import beta_binomial_logpmf, binomial_sf, information_bound, kl, mde, required_requests

TABLE_E = {  # n: (availability p0 = 1 %, latency p0 = 5 %), alpha = beta = 1 %
    300: (0.054, 0.124),
    1_000: (0.030, 0.087),
    3_000: (0.020, 0.070),
    6_000: (0.017, 0.064),
    30_000: (0.0128, 0.056),
}


@pytest.mark.parametrize("n", sorted(TABLE_E))
def test_mde_matches_table_e_within_2_percent(n: int) -> None:
    availability, latency = TABLE_E[n]
    assert mde(n, 0.01, 0.01, 0.01) == pytest.approx(availability, rel=0.02)
    assert mde(n, 0.05, 0.01, 0.01) == pytest.approx(latency, rel=0.02)


def test_mde_shrinks_with_evidence_and_required_requests_inverts_it() -> None:
    values = [mde(n, 0.01, 0.01, 0.05) for n in (100, 300, 1_000, 10_000)]
    assert values == sorted(values, reverse=True)
    n = required_requests(0.01, 0.05, 0.01, 0.05)
    assert mde(n, 0.01, 0.01, 0.05) <= 0.05 < mde(n - 5, 0.01, 0.01, 0.05)
    assert mde(0, 0.01, 0.01, 0.01) == 1.0


@pytest.mark.parametrize(
    ("p0", "p1", "bound"),
    [(0.01, 0.05, 109.1), (0.01, 0.10, 31.2), (0.01, 0.50, 2.8), (0.05, 0.1076, 169.0), (0.05, 0.3444, 10.7)],
)
def test_information_bound_is_table_a_lower_bound(p0: float, p1: float, bound: float) -> None:
    assert information_bound(p0, p1, 0.01, 0.01) == pytest.approx(bound, rel=0.01)


def test_binomial_tail_is_exact() -> None:
    n, p = 40, 0.1
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    for k in (0, 1, 4, 10, 25, 40, 41):
        assert binomial_sf(k, n, p) == pytest.approx(sum(pmf[k:]), rel=1e-9, abs=1e-300)


def test_beta_binomial_is_a_distribution_with_the_inflated_variance() -> None:
    n, p, icc = 100, 0.01, 0.05
    probabilities = [math.exp(v) for v in beta_binomial_logpmf(n, p, icc)]
    assert sum(probabilities) == pytest.approx(1.0, rel=1e-9)
    mean = sum(k * q for k, q in enumerate(probabilities))
    variance = sum((k - mean) ** 2 * q for k, q in enumerate(probabilities))
    assert mean == pytest.approx(n * p, rel=1e-9)
    assert variance / (n * p * (1 - p)) == pytest.approx(1 + (n - 1) * icc, rel=1e-6)
    assert kl(0.05, 0.01) > kl(0.02, 0.01) > 0
