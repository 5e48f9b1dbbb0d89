"""Run one experiment of a game day in its own ``chaoskit run --json`` process.

A process per experiment gives each one the game day's variables as its whole environment (its ``${VAR}``, the
target processes it starts, its probes), isolates the scheduler from what an experiment leaves in memory, and
makes stopping clean: SIGINT makes the run revert its faults and end INTERRUPTED, exactly as Ctrl-C would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chaoskit.gameday.result import ExperimentRun
from chaoskit.runner.result import Outcome

# After SIGINT a run reverts its faults and writes its result; past this it is killed (``chaoskit recover``
# then reverts what the ledger still holds).
INTERRUPT_GRACE = 120.0
KILL_GRACE = 10.0


@dataclass(frozen=True)
class Launch:
    """One experiment to run: the file, its step, its environment and where its run state and log go."""

    path: Path
    stage: int
    env: Mapping[str, str]
    state_dir: Path
    log: Path


class Launcher(Protocol):
    """Runs one experiment to its end; when ``stop`` is set it interrupts the run (faults reverted) and returns."""

    def __call__(self, launch: Launch, stop: asyncio.Event) -> Awaitable[ExperimentRun]: ...


class SubprocessLauncher:
    """The default launcher: ``python -m chaoskit run --json --state-dir DIR FILE``."""

    def __init__(self, python: str = sys.executable, interrupt_grace: float = INTERRUPT_GRACE) -> None:
        self.python = python
        self.interrupt_grace = interrupt_grace

    async def __call__(self, launch: Launch, stop: asyncio.Event) -> ExperimentRun:
        argv = [self.python, "-m", "chaoskit", "run", "--json", "--state-dir", str(launch.state_dir),
                str(launch.path)]
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        with launch.log.open("wb") as log:
            # a session of its own: a Ctrl-C on the scheduler's terminal reaches the run through us, once
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
                env=dict(launch.env), start_new_session=True,
            )
            output = asyncio.ensure_future(proc.communicate())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({output, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not output.done():
                    await _interrupt(proc, output, self.interrupt_grace)
                stdout, _ = await output
            finally:
                stopped.cancel()
                if proc.returncode is None:  # we were cancelled ourselves: never leave the run behind
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGINT)
        return _experiment_run(launch, proc.returncode, stdout, started, time.time())


async def _interrupt(proc: asyncio.subprocess.Process, output: asyncio.Future[Any], grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(output), grace)
        return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(output), KILL_GRACE)


def _experiment_run(launch: Launch, code: int | None, stdout: bytes, started: float, finished: float) -> ExperimentRun:
    run = ExperimentRun(path=str(launch.path), stage=launch.stage, outcome=Outcome.ERROR.value, reason="",
                        started_at=started, finished_at=finished, exit_code=code, log=str(launch.log))
    try:
        results = json.loads(stdout.decode("utf-8", "replace") or "null")
        data = results[0] if isinstance(results, list) and results else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        fill_from_result(run, data)
    elif code == Outcome.INVALID.exit_code:
        run.outcome, run.reason = Outcome.INVALID.value, f"invalid experiment: {_tail(launch.log)}"
    elif code is not None and code < 0:
        run.reason = f"the run was killed by signal {-code}; run `chaoskit recover` (log: {launch.log})"
    else:
        run.reason = f"the run ended without a result (exit {code}): {_tail(launch.log)}"
    return run


def fill_from_result(run: ExperimentRun, data: Mapping[str, Any]) -> None:
    """Copy what a game day keeps from a ``RunResult.to_json()`` mapping (read defensively)."""
    run.outcome = str(data.get("outcome", Outcome.ERROR.value))
    run.reason = str(data.get("reason", ""))
    run.title = data.get("title")
    run.run_id = data.get("run_id")
    run.journal = data.get("journal")
    run.started_at = data.get("started_at", run.started_at)
    run.finished_at = data.get("finished_at", run.finished_at)
    recoveries = [f.get("recovery_seconds") for f in data.get("faults") or [] if isinstance(f, dict)]
    measured = [float(r) for r in recoveries if isinstance(r, int | float)]
    run.ttr = max(measured) if measured else None


def _tail(log: Path, limit: int = 400) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "(no log)"
    return text[-limit:].replace("\n", " | ") or "(empty log)"
