"""Locust load through the plugin and the runner, as a user's experiment file uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaoskit.api import run_experiment
from chaoskit.experiment.model import Experiment, experiment_model
from chaoskit.load.driver import LocustLoad
from chaoskit.load.plugin import plan_for
from chaoskit.plugins import plugin_manager
from chaoskit.runner.result import Outcome
from tests.load.conftest import Target, drive

pytestmark = pytest.mark.slow


def experiment(**load: object) -> Experiment:
    return Experiment.model_validate(
        {
            "version": 1,
            "title": "t",
            "load": load,
            "slos": [{"name": "fast", "sli": "latency", "percentile": 95, "threshold": "250ms",
                      "during": {"threshold": "1s"}}],
        }
    )  # fmt: skip


def test_the_locust_kind_is_a_builtin_plugin() -> None:
    kinds = plugin_manager(entry_points_enabled=False).registry.load_generators
    assert "locust" in kinds and kinds["locust"].summary


def test_plan_resolves_the_locustfile_and_carries_the_slo_thresholds(tmp_path: Path, locustfile: Path) -> None:
    exp = experiment(locustfile=locustfile.name, users=3, processes=2, rate="30/s")
    plan = plan_for(exp, lambda p: tmp_path / p)
    assert plan.child.locustfile == str(locustfile.resolve())
    assert plan.child.thresholds == (0.25, 1.0)
    assert plan.processes == 2 and plan.child.width == 0.25
    assert plan.schedule is not None and plan.schedule(0).users == 3


def test_a_long_guarded_run_gives_its_children_the_longest_bound_they_accept(tmp_path: Path, locustfile: Path) -> None:
    from chaoskit.load.protocol import MAX_CHILD_DURATION, ChildConfig

    exp = experiment(locustfile=locustfile.name, users=1)
    exp = exp.model_copy(update={"guardrails": exp.guardrails.model_copy(update={"max_duration": 30 * 86400.0})})
    plan = plan_for(exp, lambda p: tmp_path / p)
    assert plan.child.max_duration == MAX_CHILD_DURATION
    assert ChildConfig.from_json(plan.child.to_json()).max_duration == MAX_CHILD_DURATION  # the child accepts it


def test_a_missing_locustfile_is_reported_before_anything_starts(tmp_path: Path) -> None:
    from chaoskit.errors import LoadError

    with pytest.raises(LoadError, match=r"nope\.py not found"):
        plan_for(experiment(locustfile="nope.py"), lambda p: tmp_path / p)


def test_a_user_locustfile_runs_unchanged_through_the_plan(tmp_path: Path, locustfile: Path, target: Target) -> None:
    exp = experiment(locustfile=str(locustfile), host=target.url, users=2, processes=1)
    run = asyncio.run(drive(LocustLoad(plan_for(exp, Path)), 1.0))
    assert run.total("/") > 50 and run.errors("/err") == run.total("/err") > 0
    assert all(w.slower.keys() == {0.25, 1.0} for w in run.windows)


def test_an_experiment_with_locust_load_passes_on_load_evidence(tmp_path: Path, target: Target) -> None:
    plugins = plugin_manager(entry_points_enabled=False)
    model = experiment_model([k.spec for k in plugins.registry.faults.values()], [])
    exp = model.model_validate(
        {
            "version": 1,
            "title": "declarative load end to end",
            "load": {"host": target.url, "http": [{"path": "/", "name": "home"}], "users": 8, "rate": "400/s"},
            "slos": [
                {"name": "available", "sli": "success_rate", "request": "home", "objective": ">= 99%"},
                {"name": "fast", "sli": "latency", "request": "home", "percentile": 95, "threshold": "250ms"},
            ],
            "phases": {"warmup": "1s", "baseline": "2s", "recovery": "2s", "settle": "0.5s"},
            "faults": [{"name": "nothing", "type": "noop", "duration": "1.5s"}],
            "guardrails": {"max_duration": "60s"},
        }
    )
    result = run_experiment(exp, plugins=plugins, state_dir=tmp_path / ".chaoskit", handle_signals=False)
    assert result.outcome is Outcome.PASSED, result.reason
    baseline = [v for v in result.verdicts if v.phase == "baseline"]
    assert baseline and all(v.evidence.requests > 100 for v in baseline)
