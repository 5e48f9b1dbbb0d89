"""Durations, percentages, rates and objectives as users write them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.experiment.units import (
    format_duration,
    objective_parser,
    parse_duration,
    parse_fraction,
    parse_rate,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), (" 1.5 s ", 1.5), (3, 3.0), (0.5, 0.5), ("0s", 0.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10 minutes", "5", "-1s", "1e3s", "", "s", True, None, [], -2, float("nan"), "inf s"])
def test_bad_durations_say_what_was_expected(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_format_duration_round_trips_exactly(seconds: float) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert "e" not in text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(["ms", "s", "m", "h"]))
def test_written_durations_survive_a_format_and_parse(amount: int, unit: str) -> None:
    seconds = parse_duration(f"{amount}{unit}")
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_is_short() -> None:
    assert [format_duration(s) for s in (0.25, 0.0, 5.0, 1.5, 120.0, 0.0005)] == [
        "250ms",
        "0s",
        "5s",
        "1.5s",
        "120s",
        "0.5ms",
    ]


def test_fractions_and_rates() -> None:
    assert parse_fraction("99.9%") == pytest.approx(0.999)
    assert parse_fraction(1) == 1.0
    assert parse_rate("600/m") == 10.0
    assert parse_rate("200 / s") == 200.0
    for bad in ("101%", "1.5", "x%", True):
        with pytest.raises(ValueError, match="percentage"):
            parse_fraction(bad)
    for wrong in ("5/h", "fast", -1, math.inf):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(wrong)


def test_objectives_compare_like_they_read() -> None:
    parse = objective_parser(parse_fraction, ">= 99.9%")
    objective = parse(">= 99%")
    assert objective.holds(0.99) and not objective.holds(0.98)
    assert str(objective) == ">= 99%"
    assert parse("< 80%").holds(0.5)
    with pytest.raises(ValueError, match=r"comparison such as '>= 99\.9%'"):
        parse("99%")
