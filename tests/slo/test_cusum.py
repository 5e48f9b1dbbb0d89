"""The abort monitor: a bank of CUSUMs (2x, 5x, 20x burn) against Tables A, C, D and design targets 2-4, 8.

Per-request streams are simulated exactly from geometric gaps (tests/slo/sim.py), with the reference's
conventions (``bank.py``): requests-to-abort is the 0-based index of the deciding request after the onset.
"""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.slo.cusum import BudgetGuard, CusumBank, calibrate_threshold, dispersion_scale
from chaoskit.slo.power import information_bound
from tests.slo.sim import beta_binomial, false_abort, requests_to_abort, wilson_upper

WINDOW = 30_000  # 5 min at 100 requests/s


def bank(p0: float = 0.01, **kwargs: float) -> CusumBank:
    return CusumBank.design(p0, requests=WINDOW, alpha=0.01, **kwargs)


def test_thresholds_agree_with_the_reference_calibration() -> None:
    # bank.py simulated h = 9.99 / 11.74 / 13.56 from 1,000 runs (the 20x one from ~3 runs past its quantile);
    # monitor.py h = 9.07 for a single 2x CUSUM from 2,000 runs
    assert [d.threshold for d in bank().detectors] == pytest.approx([9.99, 11.74, 13.56], rel=0.025)
    assert calibrate_threshold(0.01, 0.02, WINDOW, 0.01) == pytest.approx(9.07, rel=0.03)
    assert calibrate_threshold(0.01, 0.02, 300_000, 0.01) > calibrate_threshold(0.01, 0.02, WINDOW, 0.01)


@pytest.mark.slow
def test_false_aborts_at_most_1_percent_over_a_30k_window_at_p0() -> None:
    rng, reps, b = random.Random(2024), 8000, bank()
    aborted = sum(false_abort(b, rng, 0.01, WINDOW) for _ in range(reps))
    assert aborted / reps <= 0.010
    assert wilson_upper(aborted, reps) <= 0.013


def test_false_aborts_of_a_latency_slo_bank_over_a_one_minute_window_stay_within_alpha() -> None:
    rng, reps = random.Random(7), 3000
    b = CusumBank.design(0.05, requests=6_000, alpha=0.01)
    aborted = sum(false_abort(b, rng, 0.05, 6_000) for _ in range(reps))
    assert aborted / reps <= 0.012 and wilson_upper(aborted, reps) <= 0.016


@pytest.mark.parametrize(("p", "mean", "p99"), [(0.05, 268.2, 683), (0.10, 88.3, 210), (0.50, 9.2, 20)])
def test_requests_to_abort_match_table_a_cusum_bank_column(p: float, mean: float, p99: float) -> None:
    rng, b = random.Random(21), bank()
    delays = sorted(d for d in (requests_to_abort(b, rng, p) for _ in range(2000)) if d is not None)
    assert len(delays) == 2000
    assert statistics.mean(delays) == pytest.approx(mean, rel=0.10)
    assert delays[int(0.99 * len(delays))] == pytest.approx(p99, rel=0.15)
    # design target 2: within 3.5x of the single-test information bound
    assert statistics.mean(delays) <= 3.5 * information_bound(0.01, p, 0.01, 0.01)


@pytest.mark.parametrize("p", [0.05, 0.10, 0.50])
def test_late_onset_costs_at_most_10_percent_more(p: float) -> None:
    # the effect starts 10,000 requests in, after a healthy 0.1 % (Table C); a single SPRT would have
    # accepted and stopped watching by then
    rng, b = random.Random(77), bank()
    late = [requests_to_abort(b, rng, p, onset=10_000) for _ in range(800)]
    early = [requests_to_abort(b, rng, p) for _ in range(800)]
    assert all(d is not None and d >= 0 for d in late)  # no false abort before the onset
    assert statistics.mean(d for d in late if d is not None) <= 1.10 * statistics.mean(
        d for d in early if d is not None
    )


def bursty_false_aborts(b: CusumBank, icc: float, reps: int, seed: int) -> float:
    """Table D: per-second rates Beta(mean 1 %, icc), 100 requests/s, 300 s, one window per second."""
    rng, aborted = random.Random(seed), 0
    for _ in range(reps):
        b.reset()
        for _second in range(300):
            if b.update(100, beta_binomial(rng, 100, 0.01, icc)) is not None:
                aborted += 1
                break
    return aborted / reps


def test_bursty_errors_break_the_naive_bank() -> None:
    # design target 3's regression test: without the correction, ICC 0.01 falsely aborts > 25 %
    assert bursty_false_aborts(bank(), 0.01, reps=400, seed=1) > 0.25


@pytest.mark.parametrize("icc", [0.01, 0.05])
def test_dispersion_correction_holds_false_aborts_within_1_percent(icc: float) -> None:
    corrected = bank(icc=icc, per_second=100)
    assert corrected.dispersion == pytest.approx(1 + 99 * icc)
    assert bursty_false_aborts(corrected, icc, reps=1500, seed=2) <= 0.01


def test_dividing_by_d_alone_is_not_enough_for_the_high_burn_detectors() -> None:
    # the reference's LLR / D holds a single 2x CUSUM; the 20x detector decides on a second or two, where
    # clustered errors are heavier-tailed than 1 / D allows: hence each detector's own scale
    plain = bank(dispersion=1 + 99 * 0.05)
    assert bursty_false_aborts(plain, 0.05, reps=1500, seed=3) > 0.015
    exact = [d.scale for d in bank(icc=0.05, per_second=100).detectors]
    assert exact[0] == pytest.approx(1 / 5.95, rel=0.2) and exact == sorted(exact, reverse=True)
    assert dispersion_scale(0.01, 1.0, 0.01, 100, 0.0) == 1.0


def test_one_second_windows_abort_no_more_often_than_per_request_updates() -> None:
    rng = random.Random(9)
    assert bursty_false_aborts(bank(), 0.0, reps=2000, seed=4) <= 0.01
    b = bank()
    assert all(requests_to_abort(b, rng, 0.5) is not None for _ in range(50))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=30), min_size=1, max_size=40))
def test_a_window_adds_at_most_what_its_requests_add_one_by_one(windows: list[list[bool]]) -> None:
    batched, single = bank(0.05), bank(0.05)
    for window in windows:
        batched.update(len(window), sum(window))
        for bad in window:
            single.update(1, int(bad))
        if single.alarm is not None:  # a bank stops at its alarm
            break
        for b, s in zip(batched.detectors, single.detectors, strict=True):
            assert b.statistic <= s.statistic + 1e-9


def test_zero_tolerance_and_anything_goes() -> None:
    strict = CusumBank.design(0.0, requests=100, alpha=0.01)
    assert strict.update(50, 0) is None and strict.update(1, 1) is not None
    assert CusumBank.design(1.0, requests=100, alpha=0.01).update(100, 100) is None
    capped = CusumBank.design(0.5, requests=1000, alpha=0.01)  # 2x of 50 % caps at 75 %
    assert [round(d.p1, 3) for d in capped.detectors] == [0.75]


def test_budget_guard_trips_deterministically_at_its_share_of_the_30_day_budget() -> None:
    # 99 % at 1 request/s: 25,920 bad events a month; 2 % of that is 518.4
    guard = BudgetGuard(p0=0.01, production_rate=1.0, fraction=0.02)
    assert guard.allowed == pytest.approx(518.4)
    assert not guard.update(518)
    assert guard.update(1) and guard.burned == pytest.approx(519 / 25_920)


def test_very_high_slos_calibrate_quickly_and_hold_alpha() -> None:
    # 99.99 % at 1,000 requests/s for 5 minutes: a good request moves the 2x CUSUM by 1e-4, far below a lattice
    # cell, so the goods between bad events are taken as a geometric number of cells
    import time

    began = time.perf_counter()
    b = CusumBank.design(1e-4, requests=300_000, alpha=0.01)
    assert time.perf_counter() - began < 2.0
    rng, reps = random.Random(12), 2000
    aborted = sum(false_abort(b, rng, 1e-4, 300_000) for _ in range(reps))
    assert aborted / reps <= 0.012
    assert requests_to_abort(b, rng, 0.01) is not None  # a 100x burn is caught
