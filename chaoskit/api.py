"""The Python API: load and run experiments, and inject one fault inside a ``with`` block.

>>> result = chaoskit.run_experiment("experiments/quickstart.yaml")   # doctest: +SKIP
>>> result.outcome                                                     # doctest: +SKIP
<Outcome.PASSED: 'passed'>
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chaoskit.errors import FaultError
from chaoskit.experiment.model import Experiment
from chaoskit.plugins import Plugins, plugin_manager
from chaoskit.runner.result import RunResult


def load(path: str | Path, *, plugins: Plugins | None = None, env: Mapping[str, str] | None = None) -> Experiment:
    """Load and validate an experiment file; raises :class:`ExperimentError` listing every problem."""
    from chaoskit.experiment.loader import load_experiment

    plugins = plugins or plugin_manager()
    return load_experiment(path, plugins.registry, env=env)


def run_experiment(
    experiment: str | Path | Experiment,
    *,
    plugins: Plugins | None = None,
    state_dir: str | Path = ".chaoskit",
    source: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    on_runner: Callable[[Any], None] | None = None,
    handle_signals: bool = True,
) -> RunResult:
    """Run one experiment to its end and return the result.

    SIGINT and SIGTERM (when called from the main thread) interrupt the run: every fault is reverted first and the
    outcome is INTERRUPTED. ``on_runner`` is called with the :class:`~chaoskit.runner.engine.Runner` before it
    starts (the CLI uses it for the live view).
    """
    from chaoskit.runner.engine import Runner

    plugins = plugins or plugin_manager()
    if not isinstance(experiment, Experiment):
        source = experiment
        experiment = load(experiment, plugins=plugins, env=env)
    runner = Runner(experiment, plugins, source=source, state_dir=state_dir)
    if on_runner is not None:
        on_runner(runner)
    return asyncio.run(_run_with_signals(runner, handle_signals))


async def _run_with_signals(runner: Any, handle_signals: bool) -> RunResult:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals and threading.current_thread() is threading.main_thread() and task is not None:
        interrupted = False

        def interrupt() -> None:
            nonlocal interrupted
            if interrupted:  # a second signal must not cut the revert short
                runner.emit("note", message="already interrupted: reverting faults, please wait")
                return
            interrupted = True
            inner.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, interrupt)
                installed.append(sig)
    inner = asyncio.ensure_future(runner.run())
    try:
        result: RunResult = await asyncio.shield(inner)
        return result
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def fault(
    kind: str,
    *,
    target: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    name: str = "inline",
    plugins: Plugins | None = None,
    state_dir: str | Path = ".chaoskit",
) -> Iterator[list[str]]:
    """Inject one fault for the duration of a ``with`` block (through the ledger), then revert and verify.

    ``with chaoskit.fault("process.stop", target={"pid": pid}):`` — yields the labels of what was hit.
    """
    from chaoskit.runner.inline import InlineFault

    plugins = plugins or plugin_manager()
    spec_data = {"name": name, "type": kind, "target": dict(target), "duration": 0}
    if params:
        spec_data["params"] = dict(params)
    registry = plugins.registry
    if kind not in registry.faults:
        raise FaultError(f"unknown fault type {kind!r}; known: {', '.join(sorted(registry.faults))}", fault=name)
    try:
        spec = registry.faults[kind].spec.model_validate(spec_data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise FaultError(f"fault {name} ({kind}) is invalid: {problems}", fault=name) from None
    with InlineFault(spec, registry, state_dir=Path(state_dir)) as labels:
        yield labels
