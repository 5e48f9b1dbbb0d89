"""No input ever makes the loader raise anything but ExperimentError, and every diagnostic is located."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.errors import ExperimentError
from chaoskit.experiment.loader import load_experiment_text
from chaoskit.experiment.model import Experiment
from tests.unit.loader_helpers import VALID, make_registry

REGISTRY = make_registry()
BASE: dict[str, Any] = yaml.safe_load(VALID)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str | bytes) -> Experiment | None:
    """Load ``text``; assert any failure is an ExperimentError whose diagnostics point inside the text."""
    try:
        return load_experiment_text(text, "fuzz.yaml", REGISTRY, env={"SET": "1"})
    except ExperimentError as exc:
        assert exc.diagnostics
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        lines = max(1, len(text.splitlines()) + 1)
        for d in exc.diagnostics:
            assert 1 <= d.line <= lines, (d, text)
            assert d.column >= 1, (d, text)
            assert d.file == "fuzz.yaml" and d.message
            assert "\n" not in str(d), "one diagnostic, one line"
        return None


# ------------------------------------------------------------------------------------------ arbitrary text

yaml_alphabet = st.sampled_from([*" \n\t:-[]{},&*!|>'\"#%@`?$~.0123456789abcxyz", "${", "${SET}", "<<"])


@FUZZ
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.lists(yaml_alphabet, max_size=80).map("".join))
def test_yaml_punctuation_soup(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["5s", "250ms", ">= 99%", "200/s", "${SET}", "${UNSET}", "$${x}", "network.latency", "http"]),
)
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["version", "title", "faults", "probes", "slos", "name", "type", "duration", "params", "<<"]),
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)


@FUZZ
@given(documents, st.sampled_from(["block", "flow"]))
def test_generated_yaml_structures(document: Any, style: str) -> None:
    check(yaml.safe_dump(document, default_flow_style=style == "flow", allow_unicode=True))


@FUZZ
@given(st.dictionaries(keys, documents, max_size=6))
def test_generated_top_level_mappings(document: dict[str, Any]) -> None:
    document.setdefault("version", 1)
    check(yaml.safe_dump(document))


# ------------------------------------------------------------------------------------- mutated experiments


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The valid experiment with a few random deletions, replacements and insertions anywhere in it."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        node: Any = document
        # walk down to a random container
        while True:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
            if not containers or draw(st.booleans()):
                break
            _, node = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["delete", "replace", "insert"]))
        slots = list(node) if isinstance(node, dict) else list(range(len(node)))
        if action == "insert" or not slots:
            if isinstance(node, dict):
                node[draw(keys)] = draw(documents)
            else:
                node.insert(draw(st.integers(0, len(node))), draw(documents))
        elif action == "delete":
            del node[draw(st.sampled_from(slots))]
        else:
            node[draw(st.sampled_from(slots))] = draw(documents)
    return document


@FUZZ
@given(mutated())
def test_mutated_valid_experiments(document: dict[str, Any]) -> None:
    check(yaml.safe_dump(document, sort_keys=False))


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.integers(0, 20), st.text(max_size=5))
def test_text_edits_of_a_valid_experiment(at: int, cut: int, insert: str) -> None:
    check(VALID[:at] + insert + VALID[at + cut :])


def test_the_unmutated_experiment_loads() -> None:
    assert isinstance(check(yaml.safe_dump(BASE, sort_keys=False)), Experiment)


def test_experiment_round_trips_through_yaml() -> None:
    experiment = check(VALID)
    assert experiment is not None
    dumped = yaml.safe_dump(experiment.model_dump(mode="json", by_alias=True), sort_keys=False)
    again = check(dumped)
    assert again == experiment
