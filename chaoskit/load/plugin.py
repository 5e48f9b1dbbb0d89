"""The built-in ``locust`` load generator, registered like any third-party plugin."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.plugins import hookimpl
from chaoskit.registry import LoadGeneratorKind

if TYPE_CHECKING:  # the driver is imported when a run needs load, not when the plugin registers
    from chaoskit.experiment.model import Experiment, LoadSpec
    from chaoskit.load.driver import LoadPlan, LocustLoad
    from chaoskit.registry import Registry
    from chaoskit.runner.context import RunContext

MAX_DURATION_MARGIN = 30.0
"""Children outlive the run's own ``guardrails.max_duration`` by this much at most."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def http_spec(spec: LoadSpec) -> dict[str, Any] | None:
    """The declarative requests as the plain dict a load child (or a remote worker) builds its User from."""
    if spec.http is None:
        return None
    return {
        "host": spec.host,
        "client": spec.client,
        "wait": spec.wait,
        "timeout": spec.timeout,
        "requests": [
            {
                "method": r.method,
                "path": r.path,
                "name": r.request_name,
                "weight": r.weight,
                "headers": r.headers,
                "json": r.json_body,
                "body": r.body,
                "status": r.status,
            }
            for r in spec.http
        ],
    }


def plan_for(experiment: Experiment, resolve: Callable[[str], Path], *, log_dir: Path | None = None) -> LoadPlan:
    """The load plan of an experiment: per-child configuration, number of children, schedule.

    :param resolve: turns a path from the experiment into a real one (``RunContext.resolve_path``).
    """
    from chaoskit.errors import LoadError
    from chaoskit.experiment.model import parse_host_port
    from chaoskit.load.driver import LoadPlan
    from chaoskit.load.protocol import MAX_CHILD_DURATION, ChildConfig, MasterConfig
    from chaoskit.load.shapes import level_at, peak_users

    spec = experiment.load
    if spec is None:
        raise LoadError("the experiment declares no load")
    locustfile = None
    if spec.locustfile is not None:
        path = resolve(spec.locustfile)
        if not path.is_file():
            raise LoadError(f"load.locustfile {spec.locustfile} not found (looked for {path})")
        locustfile = str(path.resolve())
    master = None
    if spec.distributed is not None:
        host, port = parse_host_port(spec.distributed.bind)
        master = MasterConfig(host, port, spec.distributed.workers, spec.distributed.wait)
    child = ChildConfig(
        index=0,
        users=spec.users,
        spawn_rate=spec.spawn_rate,
        width=experiment.phases.window,
        thresholds=experiment.thresholds,
        rate=spec.rate,
        locustfile=locustfile,
        user_classes=tuple(spec.user_classes) if spec.user_classes else None,
        http=http_spec(spec),
        host=spec.host,
        # a child's hard-kill alarm has a ceiling; a longer guarded run keeps its load for that long
        max_duration=min(experiment.guardrails.max_duration + MAX_DURATION_MARGIN, MAX_CHILD_DURATION),
        master=master,
        shape_declared="load.shape" if spec.shape is not None else None,
    )
    return LoadPlan(
        child=child,
        processes=spec.processes or max(1, min(cores(), peak_users(spec))),
        schedule=functools.partial(level_at, spec),
        local_workers=spec.distributed.local_workers if spec.distributed else 0,
        log_dir=log_dir,
        start_timeout=60.0 + (spec.distributed.wait if spec.distributed else 0.0),
    )


def create(experiment: Experiment, ctx: RunContext) -> LocustLoad:
    """The ``locust`` kind's factory: the runner iterates ``windows()`` for the whole run, then calls ``stop()``."""
    from chaoskit.load.driver import LocustLoad

    return LocustLoad(plan_for(experiment, ctx.resolve_path, log_dir=ctx.state_dir / "runs" / ctx.run_id))


@hookimpl
def chaoskit_register_load_generators(register: Registry) -> None:
    register.add_load_generator(
        LoadGeneratorKind(
            name="locust",
            create=create,
            summary="Locust users (a locustfile or declarative http requests) in child processes, "
            "streamed as 250 ms windows",
        )
    )
