"""Run one game day: check every experiment, run the steps in order (a parallel group's experiments at the same
time), honour the deadline and stop-on-failure, write reports and the summary, then notify.

The runner is asyncio. Each experiment runs through a :class:`~chaoskit.gameday.launcher.Launcher` (by default
its own ``chaoskit run`` process); the deadline is measured on a :class:`~chaoskit.gameday.clock.Clock`, so tests
drive it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.errors import ChaoskitError, ExperimentError
from chaoskit.gameday import ENV_GAMEDAY, ENV_GAMEDAY_RUN
from chaoskit.gameday.clock import Clock, SystemClock
from chaoskit.gameday.launcher import Launch, Launcher, SubprocessLauncher
from chaoskit.gameday.notify import post_webhook, run_command
from chaoskit.gameday.result import SKIPPED, STOPPING, ExperimentRun, GameDayResult, conclude
from chaoskit.runner.result import Outcome

if TYPE_CHECKING:
    from chaoskit.gameday.loader import LoadedGameDay
    from chaoskit.plugins import Plugins

SUMMARY_FILE = "summary.json"

Log = Callable[[str], None]


def new_run_id(name: str, now: float) -> str:
    return f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:6]}"


async def run_gameday(
    loaded: LoadedGameDay,
    *,
    state_dir: str | Path = ".chaoskit",
    plugins: Plugins | None = None,
    launcher: Launcher | None = None,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    trigger: str = "manual",
    slot: str | None = None,
    notify: bool = True,
    env: Mapping[str, str] | None = None,
    log: Log | None = None,
) -> GameDayResult:
    """Run ``loaded`` once and return its result; never raises for what an experiment or a notification does.

    :param stop: set it to interrupt: running experiments revert their faults and end, the rest are skipped.
    :param trigger: ``manual`` or ``schedule``, and ``slot`` the cron slot a scheduled run is for.
    :param env: the base environment of experiments (default: this process's), the game day's variables on top.
    """
    from chaoskit.plugins import plugin_manager

    gd = loaded.gameday
    clock = clock or SystemClock()
    launcher = launcher or SubprocessLauncher()
    plugins = plugins or plugin_manager()
    stop = stop or asyncio.Event()
    say = log or (lambda _message: None)
    state = Path(state_dir).resolve()
    started = clock.now()
    run_id = new_run_id(gd.name, started)
    directory = state / "gamedays" / run_id
    directory.mkdir(parents=True, exist_ok=True)
    child_env = {**loaded.experiment_env(env), ENV_GAMEDAY: gd.name, ENV_GAMEDAY_RUN: run_id}

    runs = [ExperimentRun(path=str(p), stage=i, outcome=SKIPPED, reason="not started")
            for i, stage in enumerate(loaded.stages) for p in stage]
    invalid = _check_experiments(loaded, plugins, child_env, runs)
    deadline_hit = asyncio.Event()
    watcher = asyncio.ensure_future(_deadline(clock, started + gd.deadline, stop, deadline_hit)) \
        if gd.deadline is not None else None
    stopped_early = False
    try:
        if not invalid:
            stopped_early = await _run_stages(loaded, runs, launcher, stop, child_env, state, directory, say)
    finally:
        if watcher is not None:
            watcher.cancel()
    for run in runs:
        if run.outcome == SKIPPED and run.reason == "not started":
            run.reason = ("the deadline was reached" if deadline_hit.is_set() else
                          "an earlier experiment failed (stop_on_failure)" if stopped_early else
                          "the game day was interrupted" if stop.is_set() else
                          "another experiment is invalid" if invalid else "not started")
    await asyncio.to_thread(_write_reports, runs, gd.reports, plugins)
    outcome, reason = conclude(runs, deadline_reached=deadline_hit.is_set(),
                               interrupted=stop.is_set() and not deadline_hit.is_set() and not stopped_early)
    if invalid:
        outcome, reason = Outcome.INVALID, f"{invalid} experiment(s) invalid; nothing was run"
    result = GameDayResult(
        gameday=gd.name, run_id=run_id, source=str(loaded.path), trigger=trigger, outcome=outcome, reason=reason,
        started_at=started, finished_at=clock.now(), slot=slot, directory=str(directory),
        deadline_reached=deadline_hit.is_set(), stopped_early=stopped_early, experiments=runs,
    )
    _write_summary(result)
    if notify:
        result.notifications = await _notify(loaded, result, child_env)
        _write_summary(result)
    return result


def _check_experiments(loaded: LoadedGameDay, plugins: Plugins, env: Mapping[str, str],
                       runs: list[ExperimentRun]) -> int:
    """Load every experiment with the game day's variables; an invalid one is marked and nothing runs."""
    from chaoskit.experiment.loader import load_experiment

    invalid = 0
    for run in runs:
        try:
            run.title = load_experiment(run.path, plugins.registry, env=env).title
        except ExperimentError as exc:
            invalid += 1
            run.outcome, run.reason = Outcome.INVALID.value, "; ".join(str(d) for d in exc.diagnostics[:5])
        except ChaoskitError as exc:
            invalid += 1
            run.outcome, run.reason = Outcome.INVALID.value, str(exc)
    return invalid


async def _deadline(clock: Clock, at: float, stop: asyncio.Event, hit: asyncio.Event) -> None:
    await clock.sleep_until(at)
    if not stop.is_set():
        hit.set()
        stop.set()


async def _run_stages(loaded: LoadedGameDay, runs: list[ExperimentRun], launcher: Launcher, stop: asyncio.Event,
                      env: Mapping[str, str], state: Path, directory: Path, say: Log) -> bool:
    """Run the steps in order; True when ``stop_on_failure`` cut the game day short."""
    for stage in range(len(loaded.stages)):
        if stop.is_set():
            return False
        slots = [i for i, r in enumerate(runs) if r.stage == stage]
        mine = [runs[i] for i in slots]
        launches = [Launch(Path(r.path), stage, env, state, directory / _log_name(stage, i, Path(r.path)))
                    for i, r in enumerate(mine)]
        for r in mine:
            say(f"start {r.title or r.path}")
        done = await asyncio.gather(*(_guarded(launcher, launch, stop) for launch in launches))
        for i, planned, finished in zip(slots, mine, done, strict=True):
            finished.title = finished.title or planned.title
            runs[i] = finished
            say(f"{finished.outcome.upper()}: {finished.title or finished.path}: {finished.reason}")
        failed = any(r.outcome in {o.value for o in STOPPING} for r in done)
        if loaded.gameday.stop_on_failure and failed and stage < len(loaded.stages) - 1:
            return True
    return False


async def _guarded(launcher: Launcher, launch: Launch, stop: asyncio.Event) -> ExperimentRun:
    """The launcher's run; an exception of the launcher itself becomes an ERROR for that experiment only."""
    started = time.time()
    try:
        return await launcher(launch, stop)
    except Exception as exc:
        return ExperimentRun(path=str(launch.path), stage=launch.stage, outcome=Outcome.ERROR.value,
                             reason=f"could not run: {type(exc).__name__}: {exc}", started_at=started,
                             finished_at=time.time(), log=str(launch.log))


def _log_name(stage: int, index: int, path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem)[:60]
    return f"{stage + 1:02d}.{index + 1}-{stem}.log"


def _write_reports(runs: list[ExperimentRun], formats: list[str], plugins: Plugins) -> None:
    """``report.<suffix>`` beside each journal, in every format asked for that a reporter provides."""
    from chaoskit.runner.journal import RESULT_FILE, read_events
    from chaoskit.runner.result import RunResult

    reporters = plugins.registry.reporters
    for run in runs:
        if not run.journal or not formats:
            continue
        run_dir = Path(run.journal).parent
        try:
            result = RunResult.from_json(json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8")))
            events = read_events(run.journal)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for fmt in formats:
            kind = reporters.get(fmt)
            if kind is None:
                continue
            target = run_dir / f"report{kind.suffix or '.' + fmt}"
            with contextlib.suppress(Exception):  # a broken reporter costs the report, not the game day
                target.write_text(kind.render(result, events), encoding="utf-8")
                run.reports[fmt] = str(target)


def _write_summary(result: GameDayResult) -> None:
    if result.directory is None:
        return
    path = Path(result.directory) / SUMMARY_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


async def _notify(loaded: LoadedGameDay, result: GameDayResult, env: Mapping[str, str]) -> list[dict[str, Any]]:
    notify = loaded.gameday.notify
    if notify.when == "failure" and result.outcome is Outcome.PASSED:
        return []
    summary = result.to_json()
    jobs = []
    if notify.webhook is not None:
        jobs.append(post_webhook(notify.webhook, summary))
    if notify.command is not None:
        jobs.append(run_command(notify.command, summary, env))
    records = await asyncio.gather(*jobs, return_exceptions=True)
    return [r if isinstance(r, dict) else {"kind": "unknown", "ok": False, "error": repr(r)} for r in records]
