"""``${VAR}`` substitution rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.experiment.envsubst import substitute

ENV = {"HOST": "127.0.0.1", "PORT": "8080", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${HOST}:${PORT}", "127.0.0.1:8080"),
        ("http://${HOST}:${MISSING:-9000}/", "http://127.0.0.1:9000/"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${UNSET:-}", ""),
        ("${UNSET:-${PORT}}", "8080"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("$${HOST}", "${HOST}"),
        ("${UNSET:-$${HOST}}", "${HOST}"),
        ("cost: $5, $HOST, $$", "cost: $5, $HOST, $$"),
        ("${HOST:-x}", "127.0.0.1"),
    ],
)
def test_substitution(text: str, expected: str) -> None:
    assert substitute(text, ENV) == (expected, [])


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("a ${NOPE} b", 2, "environment variable 'NOPE' is not set"),
        ("x${HOST", 1, "unterminated ${ reference"),
        ("${1BAD}", 0, "malformed reference '${1BAD}'"),
        ("${}", 0, "malformed reference '${}'"),
        ("${HOST-x}", 0, "malformed reference '${HOST-x}'"),
        ("${UNSET:-a${NOPE}}", 10, "environment variable 'NOPE' is not set"),
    ],
)
def test_problems_are_reported_with_their_offset(text: str, offset: int, message: str) -> None:
    _, problems = substitute(text, ENV)
    assert [(p.offset, p.message) for p in problems] == [(offset, message)]
    assert problems[0].hint


def test_every_unset_variable_is_reported() -> None:
    value, problems = substitute("${A}-${B}-${HOST}", ENV)
    assert value == "--127.0.0.1"
    assert [p.message for p in problems] == [
        "environment variable 'A' is not set",
        "environment variable 'B' is not set",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("${}:-abAB_ 0"), max_size=30))
def test_escaping_round_trips_any_text(text: str) -> None:
    assert substitute(text.replace("${", "$${"), {}) == (text, [])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("${}:-abAB_ 0"), max_size=30))
def test_never_raises_and_offsets_lie_inside_the_text(text: str) -> None:
    _, problems = substitute(text, {"a": "1", "A": ""})
    for problem in problems:
        assert 0 <= problem.offset < len(text)
