"""Building experiments for runner tests without files."""

from __future__ import annotations

from typing import Any

from chaoskit.experiment.model import Experiment, experiment_model
from chaoskit.plugins import Plugins, plugin_manager
from chaoskit.testing import FakePlugin


def fake_plugins() -> tuple[Plugins, FakePlugin]:
    fakes = FakePlugin()
    return plugin_manager(extra=[fakes], entry_points_enabled=False), fakes


def build(plugins: Plugins, **data: Any) -> Experiment:
    model = experiment_model(
        [k.spec for k in plugins.registry.faults.values()], [k.spec for k in plugins.registry.probes.values()]
    )
    return model.model_validate({"version": 1, "title": "test", **data})


FAST_PHASES = {"warmup": 0, "baseline": "0.6s", "recovery": "2s", "settle": "0.3s"}
PROBE = {"name": "p", "type": "fake", "every": "5ms"}
AVAILABILITY = {"name": "availability", "sli": "success_rate", "objective": ">= 90%"}
