"""The stock probe kinds go through the registry hook and form a discriminated union in the experiment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chaoskit.experiment.model import experiment_model
from chaoskit.plugins import plugin_manager
from chaoskit.probes import CommandProbe, HttpProbe, PythonProbe, TcpProbe
from chaoskit.registry import Registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return plugin_manager(entry_points_enabled=False, builtins=("chaoskit.probes.builtin",)).registry


def test_stock_kinds_are_registered(registry: Registry) -> None:
    assert set(registry.probes) == {"http", "tcp", "command", "python"}
    assert all(kind.summary for kind in registry.probes.values())
    assert registry.origin["probe:http"] == "chaoskit.probes.builtin"


def test_an_experiment_with_every_probe_kind(registry: Registry) -> None:
    model = experiment_model([], [kind.spec for kind in registry.probes.values()])
    experiment = model.model_validate(
        {
            "version": 1,
            "title": "probes",
            "probes": [
                {"name": "health", "type": "http", "url": "http://127.0.0.1:8080/health", "status": 200},
                {"name": "store", "type": "tcp", "address": "127.0.0.1:7001", "every": "500ms"},
                {"name": "disk", "type": "command", "command": ["true"]},
                {"name": "stock", "type": "python", "function": "os.path:exists", "args": {"path": "/"}},
            ],
        }
    )
    made = [registry.probes[spec.type].create(spec) for spec in experiment.probes]
    assert [type(p) for p in made] == [HttpProbe, TcpProbe, CommandProbe, PythonProbe]
    assert experiment.probes[1].every == 0.5


def test_a_misspelt_field_is_rejected(registry: Registry) -> None:
    model = experiment_model([], [kind.spec for kind in registry.probes.values()])
    with pytest.raises(ValidationError, match="statsu"):
        model.model_validate(
            {
                "version": 1,
                "title": "t",
                "probes": [{"name": "h", "type": "http", "url": "http://127.0.0.1/", "statsu": 200}],
            }
        )
