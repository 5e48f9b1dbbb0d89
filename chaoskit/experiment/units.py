"""Human units used in experiment files: durations, percentages, rates and comparison objectives.

Each parser raises ``ValueError`` with a message that says what was expected, which pydantic turns into a
located diagnostic.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m)\s*$")
_OBJECTIVE_RE = re.compile(r"^\s*(>=|<=|>|<)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def _shown(value: object) -> str:
    """A short rendering of a bad input for messages: never a whole nested structure."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: object) -> float:
    """``"250ms"``, ``"5s"``, ``"2m"``, ``"1h"`` or a bare number of seconds -> seconds (float, >= 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 5s or 2m, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 500ms, 5s or 2m, got {_shown(value)}")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"a duration must be a finite number >= 0, got {_shown(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short spelling of a duration that :func:`parse_duration` reads back as exactly ``seconds``."""
    if 0 < seconds < 1:
        millis = _plain_number(seconds * 1000) + "ms"
        if parse_duration(millis) == seconds:
            return millis
    return _plain_number(seconds) + "s"


def _plain_number(value: float) -> str:
    """The shortest text that reads back as ``value``, without an exponent (durations do not take one)."""
    text = repr(value)
    if "e" in text or "E" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def parse_fraction(value: object) -> float:
    """``"99.9%"`` or a number in [0, 1] -> a fraction in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 99.9%")
    if isinstance(value, str) and (m := _PERCENT_RE.match(value)):
        fraction = float(m.group(1)) / 100
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise ValueError(f"expected a percentage such as 99.9%, got {_shown(value)}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"a percentage must lie between 0% and 100%, got {_shown(value)}")
    return fraction


def parse_rate(value: object) -> float:
    """``"200/s"``, ``"600/m"`` or a number of events per second -> events per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 200/s")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (m := _RATE_RE.match(value)):
        rate = float(m.group(1)) / (1.0 if m.group(2) == "s" else 60.0)
    else:
        raise ValueError(f"expected a rate such as 200/s or 600/m, got {_shown(value)}")
    if rate < 0 or rate != rate or rate == float("inf"):
        raise ValueError(f"a rate must be a finite number >= 0, got {_shown(value)}")
    return rate


@dataclass(frozen=True)
class Objective:
    """A comparison such as ``>= 99%``: ``holds(observed)`` tells whether a measured value meets it."""

    op: str
    value: float
    text: str

    def holds(self, observed: float) -> bool:
        return _OPS[self.op](observed, self.value)

    def __str__(self) -> str:
        return self.text


def objective_parser(parse_value: Callable[[object], float], example: str) -> Callable[[object], Objective]:
    """Build a parser for ``OP VALUE`` objectives whose VALUE is read by ``parse_value``."""

    def parse(value: object) -> Objective:
        if isinstance(value, Objective):
            return value
        if not isinstance(value, str) or not (m := _OBJECTIVE_RE.match(value)):
            raise ValueError(f"expected a comparison such as {example!r}, got {_shown(value)}")
        return Objective(m.group(1), parse_value(m.group(2)), f"{m.group(1)} {m.group(2)}")

    return parse


def _schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 250ms, 5s, 2m, 1h, or a number of seconds.",
        }
    ),
]
Fraction = Annotated[
    float,
    BeforeValidator(parse_fraction),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"}, {"type": "number"}],
            "description": "A percentage such as 5% or a fraction between 0 and 1.",
        }
    ),
]
Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*/\s*(s|m)\s*$"}, {"type": "number"}],
            "description": "A rate such as 200/s or 600/m.",
        }
    ),
]
FractionObjective = Annotated[
    Objective,
    BeforeValidator(objective_parser(parse_fraction, ">= 99.9%")),
    PlainSerializer(str, return_type=str),
    _schema(r"^\s*(>=|<=|>|<)\s*\d+(\.\d+)?\s*%\s*$", "A comparison with a percentage, e.g. '>= 99.9%'."),
]
RateObjective = Annotated[
    Objective,
    BeforeValidator(objective_parser(parse_rate, ">= 50/s")),
    PlainSerializer(str, return_type=str),
    _schema(r"^\s*(>=|<=|>|<)\s*\d+(\.\d+)?\s*/\s*(s|m)\s*$", "A comparison with a rate, e.g. '>= 50/s'."),
]
