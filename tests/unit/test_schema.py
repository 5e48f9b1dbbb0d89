"""``experiment_schema``: a valid JSON Schema that agrees with the loader on real files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chaoskit.experiment.schema import SCHEMA_DIALECT, experiment_schema
from chaoskit.plugins import plugin_manager
from tests.unit.loader_helpers import VALID, make_registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return experiment_schema(make_registry())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"] and schema["title"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(schema)[:3] == ["$schema", "$id", "title"]


def test_schema_of_the_builtin_kinds_is_valid() -> None:
    schema = experiment_schema(plugin_manager().registry)
    jsonschema.Draft202012Validator.check_schema(schema)
    document = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []


def test_valid_experiment_passes(validator: jsonschema.Draft202012Validator) -> None:
    assert list(validator.iter_errors(yaml.safe_load(VALID))) == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("phases", "baseline"), "10 seconds"),
        (("faults", 0, "type"), "network.latncy"),
        (("faults", 0, "params", "jiter"), "1ms"),
        (("load", "users"), "many"),
        (("slos", 0, "objective"), "99%"),
        (("version",), 2),
    ],
)
def test_mistakes_the_loader_rejects_fail_the_schema_too(
    validator: jsonschema.Draft202012Validator, where: tuple[str | int, ...], value: object
) -> None:
    document = copy.deepcopy(yaml.safe_load(VALID))
    node = document
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    assert list(validator.iter_errors(document)), f"{where} = {value!r} passed the schema"


def test_schema_names_every_kind_and_has_no_openapi_leftovers(schema: dict[str, Any]) -> None:
    text = repr(schema)
    for kind in ("network.latency", "process.stop", "process.kill", "http", "tcp"):
        assert f"'{kind}'" in text
    assert "propertyName" not in text
