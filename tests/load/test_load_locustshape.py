"""A locustfile's own LoadTestShape: found in the source, followed by real Locust, split over children, and a
conflict with the experiment's own shape reported where it is written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chaoskit.errors import ExperimentError, LoadError
from chaoskit.experiment.loader import load_experiment
from chaoskit.load.driver import LoadPlan, LocustLoad
from chaoskit.load.locustshape import ShapeClass, shape_classes_in, user_share
from chaoskit.load.protocol import ChildConfig, MasterConfig
from chaoskit.plugins import plugin_manager
from tests.load.conftest import Target

SHOPPER = """\
from locust import FastHttpUser, LoadTestShape, constant, task


class Shopper(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")
"""
"""The user class of both locustfiles below, which differ in their LoadTestShape."""

STAGES = (
    SHOPPER
    + """

class Stages(LoadTestShape):
    stages = [(2.5, 2), (5.0, 6)]  # (until second, users)

    def tick(self):
        run_time = self.get_run_time()
        for until, users in self.stages:
            if run_time < until:
                return users, 100
        return None
"""
)

COMMON = (
    SHOPPER
    + """

class Half(LoadTestShape):
    use_common_options = True

    def tick(self):
        if self.get_run_time() > 3:
            return None
        options = self.runner.environment.parsed_options
        return options.num_users // 2, options.spawn_rate
"""
)


def write(tmp_path: Path, text: str, name: str = "locustfile.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def follow(plan: LoadPlan) -> tuple[list[tuple[float, int]], float]:
    """Iterate the load until it ends by itself: (slot start, users) per slot, and how long it ran."""
    load = LocustLoad(plan)
    users: list[tuple[float, int]] = []

    async def consume() -> None:
        async for window in load.windows():
            if load.status is not None and (not users or users[-1][0] != window.start):
                users.append((window.start, load.status.users))

    began = time.monotonic()
    asyncio.run(asyncio.wait_for(consume(), 60))
    return users, time.monotonic() - began


# ------------------------------------------------------------------------------------------- reading the source


def test_shape_classes_are_found_in_the_source_without_importing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "import locust\nfrom locust import LoadTestShape\n\n"
        "class Base(LoadTestShape):\n    abstract = True\n    use_common_options = True\n\n"
        "class Ramp(Base):\n    def tick(self):\n        return None\n\n"
        "class Plain(locust.LoadTestShape):\n    def tick(self):\n        return None\n\n"
        "class NotAShape:\n    pass\n\n"
        "raise SystemExit('importing this file would exit')\n",
    )
    assert shape_classes_in(path) == [ShapeClass("Ramp", 8, True), ShapeClass("Plain", 12, False)]
    assert shape_classes_in(write(tmp_path, "def broken(:\n", "bad.py")) == []
    assert shape_classes_in(tmp_path / "missing.py") == []


@pytest.mark.parametrize(("users", "parts"), [(0, 2), (1, 2), (5, 2), (7, 3), (100, 4)])
def test_user_shares_add_up_to_the_shapes_users(users: int, parts: int) -> None:
    shares = [user_share(users, i, parts) for i in range(parts)]
    assert sum(shares) == users and max(shares) - min(shares) <= 1


# ------------------------------------------------------------------------------------------ with real Locust


@pytest.mark.slow
def test_a_locustfile_shape_is_followed_over_two_children_and_ends_the_load(tmp_path: Path, target: Target) -> None:
    lf = write(tmp_path, STAGES)
    # users=10 is what an experiment would default to: the shape, not it, decides
    config = ChildConfig(index=0, users=10, spawn_rate=100.0, locustfile=str(lf), host=target.url, max_duration=60)
    users, seconds = follow(LoadPlan(config, processes=2))
    seen = [n for _, n in users]
    assert 2 in seen and 6 in seen, seen
    assert seen.index(6) > seen.index(2)  # the stages come in order
    assert max(seen) == 6  # split over the two children, never doubled
    assert seconds < 20  # the shape's end (5 s) ended the load, well before max_duration


@pytest.mark.slow
def test_a_shape_with_common_options_reads_the_runs_users(tmp_path: Path, target: Target) -> None:
    lf = write(tmp_path, COMMON)
    config = ChildConfig(index=0, users=8, spawn_rate=100.0, locustfile=str(lf), host=target.url, max_duration=60)
    users, _ = follow(LoadPlan(config, processes=2))
    assert max(n for _, n in users) == 4  # Locust's --users 8, halved by the shape, over both children


@pytest.mark.slow
def test_a_locustfile_shape_runs_on_the_master_with_distributed_workers(tmp_path: Path, target: Target) -> None:
    lf = write(tmp_path, STAGES)
    config = ChildConfig(
        index=0,
        users=10,
        spawn_rate=100.0,
        locustfile=str(lf),
        host=target.url,
        max_duration=60,
        master=MasterConfig("127.0.0.1", 15791, 2, 30.0),
    )
    users, _ = follow(LoadPlan(config, local_workers=2))
    seen = [n for _, n in users]
    assert 6 in seen and max(seen) == 6, seen


@pytest.mark.slow
def test_the_experiments_own_shape_and_a_locustfile_shape_are_a_load_error(tmp_path: Path, target: Target) -> None:
    lf = write(tmp_path, STAGES)
    config = ChildConfig(
        index=0, users=2, spawn_rate=10.0, locustfile=str(lf), host=target.url, shape_declared="load.shape"
    )
    with pytest.raises(LoadError, match=r"defines the LoadTestShape Stages, and load\.shape declares a load shape"):
        follow(LoadPlan(config))


# ------------------------------------------------------------------------------------------------ validation

EXPERIMENT = """\
version: 1
title: shaped
load:
  locustfile: locustfile.py
  host: http://127.0.0.1:9
{extra}slos:
  - {{name: availability, sli: success_rate, objective: ">= 99%"}}
"""


def validate(tmp_path: Path, locustfile: str, extra: str) -> ExperimentError | None:
    write(tmp_path, locustfile)
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT.format(extra=extra))
    try:
        load_experiment(path, plugin_manager().registry)
    except ExperimentError as exc:
        return exc
    return None


def test_a_conflict_with_the_locustfile_shape_is_located_in_the_experiment(tmp_path: Path) -> None:
    error = validate(tmp_path, STAGES, "  users: 20\n  shape: {type: ramp, duration: 10s}\n")
    assert error is not None
    found = {(d.path, d.line) for d in error.diagnostics}
    assert found == {("load.shape", 7), ("load.users", 6)}, error
    text = str(error)
    assert "conflicts with the LoadTestShape Stages in locustfile.py (line 12)" in text
    assert "remove load.shape to follow the locustfile's" in text
    assert "has no effect: the LoadTestShape Stages" in text


def test_a_locustfile_shape_alone_or_with_common_options_is_valid(tmp_path: Path) -> None:
    assert validate(tmp_path, STAGES, "  rate: 20/s\n") is None
    assert validate(tmp_path, COMMON, "  users: 20\n  spawn_rate: 5\n") is None


def test_shape_scan_never_reads_a_device_or_a_fifo(tmp_path: Path) -> None:
    """``chaoskit validate`` on a locustfile path naming /dev/zero or a FIFO returns at once (nothing to read)."""
    import os

    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    assert shape_classes_in("/dev/zero") == []
    assert shape_classes_in(fifo) == []
    assert shape_classes_in(tmp_path) == []
