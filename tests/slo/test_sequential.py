"""The SPRT against Tables A and B (design target 1), the steady-state gate (target 7), and the dispersion
estimate (1.8.4). Streams are simulated per request, exactly, from geometric gaps (tests/slo/sim.py)."""

from __future__ import annotations

import random
import statistics

import pytest

from chaoskit.slo.sequential import Decision, Sprt, estimate_dispersion, steady_state_gate
from tests.slo.sim import beta_binomial, gaps, wilson_upper


def decide(test: Sprt, rng: random.Random, p: float) -> tuple[Decision, int]:
    """Run a fresh copy of ``test`` per request on rate ``p``: (decision, requests used)."""
    sprt = Sprt(test.p_low, test.p_high, test.alpha, test.beta, scale=test.scale)
    stream = gaps(rng, p)
    while True:
        g = next(stream)
        need = sprt.requests_to_accept()
        if need <= g:  # accepts inside this run of good requests
            sprt.update(need, 0)
            return sprt.decision, sprt.n
        sprt.update(g, 0)
        if sprt.update(1, 1) is Decision.REJECT:
            return Decision.REJECT, sprt.n


def run(p_low: float, p_high: float, p: float, reps: int, seed: int) -> tuple[float, float, float]:
    """Mean and p99 requests to a decision, and the share of rejections (aborts)."""
    rng = random.Random(seed)
    test = Sprt(p_low, p_high, 0.01, 0.01)
    outcomes = [decide(test, rng, p) for _ in range(reps)]
    n = sorted(used for _, used in outcomes)
    return statistics.mean(n), n[int(0.99 * len(n)) - 1], sum(d is Decision.REJECT for d, _ in outcomes) / reps


@pytest.mark.parametrize(
    ("p_low", "p_high", "p", "mean", "p99"),
    [
        (0.01, 0.02, 0.05, 195, 445),  # practical design, Table A
        (0.01, 0.02, 0.10, 82, 169),
        (0.01, 0.02, 0.50, 14, 25),
        (0.05, 0.10, 0.1076, 184, 587),  # latency p95 300 ms, lognormal sigma = 1
        (0.01, 0.02, 0.001, 486, 661),  # Table B, healthy: accepts
    ],
)
def test_practical_sprt_requests_to_decision_match_tables_a_and_b(
    p_low: float, p_high: float, p: float, mean: float, p99: float
) -> None:
    got_mean, got_p99, _ = run(p_low, p_high, p, reps=4000, seed=11)
    assert got_mean == pytest.approx(mean, rel=0.10)
    assert got_p99 == pytest.approx(p99, rel=0.10)


@pytest.mark.parametrize(
    ("p_low", "p_high", "at_p0", "at_p1"),
    [(0.01, 0.02, 0.0062, 0.990), (0.01, 0.03, 0.0066, 0.990), (0.05, 0.10, 0.0078, 0.991)],
)
def test_operating_characteristic_within_0_3_points_of_table_b(
    p_low: float, p_high: float, at_p0: float, at_p1: float
) -> None:
    assert run(p_low, p_high, p_low, reps=6000, seed=5)[2] == pytest.approx(at_p0, abs=0.003)
    assert run(p_low, p_high, p_high, reps=6000, seed=6)[2] == pytest.approx(at_p1, abs=0.003)


def test_gate_accepts_a_healthy_target_in_about_1060_requests() -> None:
    # design target 7: 0.5 % vs 1 % at a true 0.1 %, alpha = beta = 1 %: 1,059 requests (Wald), <= 15 s at 100/s
    rng = random.Random(3)
    gate = steady_state_gate(0.01, alpha=0.01, beta=0.01)
    outcomes = [decide(gate, rng, 0.001) for _ in range(3000)]
    assert all(d is Decision.ACCEPT for d, _ in outcomes)
    assert statistics.mean(n for _, n in outcomes) == pytest.approx(1059, rel=0.10)
    latency = steady_state_gate(0.05, alpha=0.01, beta=0.01)
    assert statistics.mean(decide(latency, rng, 0.01)[1] for _ in range(3000)) == pytest.approx(245, rel=0.10)


def test_gate_refuses_a_target_already_at_its_limit() -> None:
    rng = random.Random(4)
    gate = steady_state_gate(0.01, alpha=0.01, beta=0.05)
    reps = 4000
    accepted = sum(decide(gate, rng, 0.01)[0] is Decision.ACCEPT for _ in range(reps))
    # Wald: the chance of accepting a target at p0 is at most beta / (1 - alpha) = 5.05 %
    assert accepted / reps == pytest.approx(0.05, abs=0.01)
    assert wilson_upper(reps - accepted, reps) >= 1 - 0.05 / 0.99
    assert decide(gate, rng, 0.05)[0] is Decision.REJECT


def test_dispersion_estimate_recovers_the_per_second_icc() -> None:
    rng = random.Random(8)
    for icc, index in ((0.0, 1.0), (0.01, 1.99), (0.05, 5.95)):
        rows = [(float(s), 100, beta_binomial(rng, 100, 0.01, icc)) for s in range(600)]
        d = estimate_dispersion(rows)
        assert d.index == pytest.approx(index, rel=0.25, abs=0.2)
        assert d.at(100) == pytest.approx(max(1.0, d.index), rel=0.05)
    assert estimate_dispersion([(0.0, 100, 0), (1.0, 100, 0), (2.0, 100, 0)]).index == 1.0  # nothing to see
    bursty = estimate_dispersion([(float(s), 100, 30 if s % 20 == 0 else 0) for s in range(60)])
    assert bursty.index > 3 and bursty.warning and "bursty" in bursty.warning


def test_windows_are_binned_by_second() -> None:
    # four quarter-second windows per second, errors all in one second
    rows = [(s + q / 4, 25, 20 if s == 3 and q == 0 else 0) for s in range(10) for q in range(4)]
    d = estimate_dispersion(rows)
    assert d.bins == 10 and d.requests_per_bin == 100 and d.index > 10
