"""The Wilson interval and the flaky flag, property-tested; coverage checked by simulation with a fixed seed."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaoskit.history.record import RunRecord
from chaoskit.history.trends import Z95, is_flaky, sparkline, theil_sen, trend, wilson_interval


@st.composite
def counts(draw: st.DrawFn, most: int = 100_000) -> tuple[int, int]:
    runs = draw(st.integers(0, most))
    return draw(st.integers(0, runs)), runs


@given(counts())
def test_wilson_is_inside_zero_one_and_contains_the_observed_rate(c: tuple[int, int]) -> None:
    passed, runs = c
    low, high = wilson_interval(passed, runs)
    assert 0.0 <= low <= high <= 1.0
    if runs:
        assert low <= passed / runs <= high
        assert low < high, "never a zero-width interval, even at 0 or all passes"
        assert (low == 0.0) == (passed == 0) and (high == 1.0) == (passed == runs)


@given(counts())
def test_wilson_is_symmetric_in_passes_and_failures(c: tuple[int, int]) -> None:
    passed, runs = c
    low, high = wilson_interval(passed, runs)
    flip_low, flip_high = wilson_interval(runs - passed, runs)
    assert math.isclose(low, 1 - flip_high, abs_tol=1e-12) and math.isclose(high, 1 - flip_low, abs_tol=1e-12)


@given(counts(10_000))
def test_wilson_endpoints_solve_the_score_equation(c: tuple[int, int]) -> None:
    """The endpoints are where the score test is exactly at z: (p_hat - p)^2 = z^2 p (1 - p) / n."""
    passed, runs = c
    if not 0 < passed < runs:
        return
    p_hat = passed / runs
    for p in wilson_interval(passed, runs):
        assert math.isclose((p_hat - p) ** 2, Z95**2 * p * (1 - p) / runs, rel_tol=1e-6, abs_tol=1e-15)


@given(st.integers(1, 5_000), st.data())
def test_wilson_moves_with_the_passes_and_narrows_with_evidence(runs: int, data: st.DataObject) -> None:
    passed = data.draw(st.integers(0, runs - 1))
    low, high = wilson_interval(passed, runs)
    more_low, more_high = wilson_interval(passed + 1, runs)
    assert more_low >= low and more_high >= high
    twice_low, twice_high = wilson_interval(2 * passed, 2 * runs)  # same rate, twice the runs
    assert twice_high - twice_low < high - low


def test_wilson_known_values_and_bad_input() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(3, 3)
    assert high == 1.0 and round(low, 4) == 0.4385
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    for bad in ((4, 3), (-1, 3), (0, -1)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)


def test_wilson_covers_the_true_pass_rate_about_95_percent_of_the_time() -> None:
    rng = random.Random(20250106)
    covered = trials = 0
    worst = 1.0
    for p in (0.2, 0.5, 0.8, 0.95):
        for runs in (20, 50, 100):
            hits = 0
            for _ in range(400):
                passed = sum(rng.random() < p for _ in range(runs))
                low, high = wilson_interval(passed, runs)
                hits += low <= p <= high
            worst = min(worst, hits / 400)
            covered += hits
            trials += 400
    assert 0.93 <= covered / trials <= 0.97
    assert worst >= 0.88


@given(counts(100_000))
def test_flaky_means_a_pass_rate_between_10_and_90_percent(c: tuple[int, int]) -> None:
    passed, runs = c
    expected = runs > 0 and Fraction(1, 10) <= Fraction(passed, runs) <= Fraction(9, 10)
    assert is_flaky(passed, runs) is expected
    assert is_flaky(passed, runs) == is_flaky(runs - passed, runs), "passing and failing are treated alike"
    if passed in (0, runs):
        assert not is_flaky(passed, runs), "always passing or always failing is not flaky"


def test_flaky_edges() -> None:
    assert is_flaky(1, 10) and is_flaky(9, 10) and is_flaky(1, 2)
    assert not is_flaky(1, 11) and not is_flaky(10, 11) and not is_flaky(1, 1) and not is_flaky(0, 0)


def record(i: int, outcome: str, ttr: float | None = None) -> RunRecord:
    return RunRecord(run_id=f"r{i}", experiment="e", outcome=outcome, reason="", started_at=1000.0 + i,
                     finished_at=1010.0 + i, ttr=ttr)


def test_trend_counts_only_runs_that_judged_the_system() -> None:
    newest_first = [record(5, "passed", 2.0), record(4, "interrupted"), record(3, "failed", 9.0),
                    record(2, "invalid"), record(1, "passed", 4.0)]
    t = trend("e", newest_first)
    assert (t.runs, t.judged, t.passed) == (5, 3, 2) and t.flaky
    assert t.outcomes == ["passed", "invalid", "failed", "interrupted", "passed"]
    assert [s for _, s in t.ttr] == [4.0, 9.0, 2.0] and t.ttr_median == 4.0
    assert (t.low, t.high) == wilson_interval(2, 3)


def test_theil_sen_and_sparkline() -> None:
    outlier = [(0, 10.0), (1, 8.0), (2, 6.0), (3, 4.0), (4, 100.0)]
    assert theil_sen(outlier) == -2.0, "one outlier does not turn the trend"
    assert theil_sen([(0, 1.0)]) is None
    assert sparkline([1, 2, 3, 8]) == "▁▂▃█" and sparkline([5, 5]) == "▁▁" and sparkline([]) == ""
