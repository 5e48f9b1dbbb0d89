"""Time-to-recover by the change-point detector E4 against ``ttr.py`` (section 2, design target 9)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from chaoskit.slo.changepoint import ChangePointDetector, RecoveryState
from tests.slo.sim import binomial

HEALTHY, FAULTED, TAU, P0, HORIZON = 0.001, 0.30, 10.0, 0.01, 120.0
# E4 aims at the time the error rate crosses the middle of its indifference zone (0.72 %): 38.7 s
P_STAR = math.log((1 - P0 / 2) / (1 - P0)) / (math.log(2) + math.log((1 - P0 / 2) / (1 - P0)))
TARGET = TAU * math.log((FAULTED - HEALTHY) / (P_STAR - HEALTHY))


def recover(rps: int, rng: random.Random, *, width: float = 0.25) -> ChangePointDetector:
    """p(t) = 0.1 % + 29.9 % exp(-t / 10 s) after the fault is removed at t = 0, fed as quarter-second windows."""
    detector = ChangePointDetector(P0, 0.0, HORIZON, alpha=0.01, beta=0.01)  # h = ln 99 + ln 120, as ttr.py
    n, t = round(rps * width), 0.0
    while t < HORIZON:
        p = HEALTHY + (FAULTED - HEALTHY) * math.exp(-(t + width / 2) / TAU)
        if detector.update(t + width, n, binomial(rng, n, p)):
            break
        t += width
    detector.finish()
    return detector


@pytest.mark.parametrize(("rps", "runs", "max_bias", "max_sd"), [(100, 400, 1.5, 5.0), (1000, 150, 1.0, 2.5)])
def test_change_point_ttr_is_unbiased(rps: int, runs: int, max_bias: float, max_sd: float) -> None:
    assert abs(TARGET - 38.7) < 0.1
    rng = random.Random(11)
    detectors = [recover(rps, rng) for _ in range(runs)]
    assert all(d.state is RecoveryState.RECOVERED for d in detectors)
    ttrs = [d.ttr for d in detectors if d.ttr is not None]
    assert abs(statistics.mean(ttrs) - TARGET) <= max_bias
    assert statistics.pstdev(ttrs) <= max_sd
    # "recovery confirmed at" comes after the change point (ttr.py: 66.7 s at 100/s, 44.5 s at 1000/s)
    confirmed = [d.confirmed_after for d in detectors if d.confirmed_after is not None]
    assert all(c >= t for c, t in zip(confirmed, ttrs, strict=True))
    assert statistics.mean(confirmed) == pytest.approx({100: 66.7, 1000: 44.5}[rps], rel=0.1)


def test_no_recovery_within_the_horizon_is_censored_and_breaching() -> None:
    detector = ChangePointDetector(P0, 0.0, 10.0, alpha=0.01, beta=0.05)
    rng = random.Random(1)
    for i in range(40):
        assert not detector.update((i + 1) * 0.25, 25, binomial(rng, 25, 0.05))
    assert detector.finish() is RecoveryState.BREACHING
    assert detector.ttr is None and detector.confirmed_after is None and detector.late_p_value() < 0.01


def test_too_little_clean_traffic_is_censored_but_not_breaching() -> None:
    detector = ChangePointDetector(P0, 100.0, 2.0, alpha=0.01, beta=0.05)
    detector.update(100.5, 50, 0)
    assert detector.finish() is RecoveryState.CENSORED
    assert detector.clean_requests_to_confirm() > 0


def test_the_recovery_transient_does_not_count_against_the_last_look() -> None:
    # 84 of 157 slow right after the revert, then clean: whole-phase rates would say "still breaching"
    detector = ChangePointDetector(0.05, 0.0, 15.0, alpha=0.01, beta=0.05)
    detector.update(1.0, 157, 84)
    for end in (1.5, 2.0, 2.5):
        detector.update(end, 60, 0)  # 180 clean: G = 4.7, short of the alarm (5.7) but over ln 20
    assert detector.finish() is RecoveryState.RECOVERED and detector.confirmed_by == "end look"
    assert detector.ttr == 1.0 and detector.confirmed_after == 2.5
    # a burst in the second half of the phase is still breaching
    late = ChangePointDetector(0.05, 0.0, 15.0, alpha=0.01, beta=0.05)
    late.update(1.0, 157, 84)
    late.update(12.0, 90, 30)
    assert late.finish() is RecoveryState.BREACHING


def test_confirmation_needs_the_threshold_in_clean_requests() -> None:
    detector = ChangePointDetector(P0, 0.0, 15.0, alpha=0.01, beta=0.05)
    needed = detector.clean_requests_to_confirm()
    assert needed == math.ceil(detector.threshold / detector.step_good)
    assert not detector.update(1.0, needed - 1, 0)
    assert detector.update(2.0, 1, 0) and detector.ttr == 0.0 and detector.confirmed_after == 2.0


def test_zero_tolerance_restarts_on_any_bad_event() -> None:
    detector = ChangePointDetector(0.0, 0.0, 10.0, alpha=0.01, beta=0.05)
    detector.update(1.0, 100, 1)
    assert detector.statistic == 0.0 and detector.last_zero == 1.0
    assert detector.update(2.0, 100_000, 0) and detector.ttr == 1.0


def test_clean_traffic_short_of_the_alarm_is_confirmed_by_the_last_look() -> None:
    # the quickstart's case: ~900 clean requests in a 15 s phase; the alarm wants ~1,130, the last look ~600
    detector = ChangePointDetector(P0, 0.0, 15.0, alpha=0.01, beta=0.05)
    for i in range(60):
        assert not detector.update((i + 1) * 0.25, 15, 0)
    assert detector.finish() is RecoveryState.RECOVERED and detector.confirmed_by == "end look"
    assert detector.ttr == 0.0 and detector.confirmed_after == 15.0
    short = ChangePointDetector(P0, 0.0, 15.0, alpha=0.01, beta=0.05)
    short.update(15.0, 500, 0)  # 500 x 0.00504 = 2.5 < ln 20
    assert short.finish() is RecoveryState.CENSORED


def test_the_last_look_holds_beta_at_the_limit() -> None:
    # at p = p0 the chance that G >= ln(1 / beta) at the end is at most beta
    rng, reps, recovered = random.Random(4), 2000, 0
    for _ in range(reps):
        d = ChangePointDetector(P0, 0.0, 15.0, alpha=0.01, beta=0.05)
        for i in range(60):
            d.update((i + 1) * 0.25, 25, binomial(rng, 25, P0))
        recovered += d.finish() is RecoveryState.RECOVERED
    assert recovered / reps <= 0.05
