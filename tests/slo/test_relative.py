"""The relative check: Mann-Whitney U and Hodges-Lehmann against scipy, and Kayenta's classification."""

from __future__ import annotations

import random

import pytest

from chaoskit.slo.relative import classify, mann_whitney


def test_u_and_p_value_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(5)
    for shift in (0.0, 0.5, 2.0):
        x = [round(rng.gauss(0, 1), 1) for _ in range(25)]  # rounded: ties
        y = [round(rng.gauss(shift, 1), 1) for _ in range(30)]
        ours = mann_whitney(x, y)
        ref = stats.mannwhitneyu(y, x, alternative="greater", method="asymptotic", use_continuity=True)
        assert ours.u == pytest.approx(ref.statistic)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)


def test_hodges_lehmann_shift_and_interval() -> None:
    x = [float(v) for v in range(20)]
    y = [v + 10.0 for v in x]
    t = mann_whitney(x, y)
    assert t.shift == 10.0 and 2.5 < t.ci_low <= 10.0 <= t.ci_high
    assert t.p_value < 0.05 and classify(t, sum(x) / 20, sum(y) / 20) == "worse"
    same = mann_whitney(x, list(x))
    assert same.shift == 0.0 and classify(same, 9.5, 9.5) == "same"
    assert classify(mann_whitney(y, x), 19.5, 9.5) == "better"
    small = mann_whitney(x, [v + 5.0 for v in x])  # significant, but the interval reaches below 25 % of the shift
    assert small.p_value < 0.05 and classify(small, 9.5, 14.5) == "same"


def test_identical_constant_bins_are_no_evidence() -> None:
    t = mann_whitney([0.0] * 10, [0.0] * 10)
    assert t.p_value == 1.0 and t.z == 0.0
    assert mann_whitney([], [1.0]).p_value == 1.0
