"""``chaoskit gameday``: run a suite of experiments now (``run``), show what its schedule will do (``plan``), or
keep it on its schedule (``schedule``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from chaoskit.commands._common import EXIT_INVALID, load_all_or_exit, plugins_or_exit, state_dir_option

if TYPE_CHECKING:
    from chaoskit.gameday.loader import LoadedGameDay
    from chaoskit.gameday.result import GameDayResult
    from chaoskit.plugins import Plugins

T = TypeVar("T")


@click.group()
def gameday() -> None:
    """Game days: suites of experiments run together, now or on a cron schedule."""


def load_gamedays_or_exit(paths: list[Path]) -> list[LoadedGameDay]:
    """Load every game-day file; on any error print every diagnostic and exit 2."""
    from chaoskit.gameday.loader import load_gameday

    return load_all_or_exit(paths, load_gameday, "game-day")


def stamp(message: str) -> None:
    """A log line on stderr with the local time."""
    click.echo(f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S%z} {message}", err=True)


def run_until_signalled(make: Callable[[asyncio.Event], Coroutine[Any, Any, T]]) -> T:
    """Run ``make(stop)`` in a new loop; SIGINT or SIGTERM sets ``stop`` (faults are reverted, never abandoned)."""

    async def main() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        if threading.current_thread() is threading.main_thread():

            def on_signal() -> None:
                if stop.is_set():
                    stamp("already stopping: interrupting the running experiments, their faults are being reverted")
                else:
                    stamp("stopping: running experiments revert their faults; nothing new starts")
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, on_signal)
                    installed.append(sig)
        try:
            return await make(stop)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------------------- run


@gameday.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the game day's JSON summary on stdout.")
@click.option("--no-notify", is_flag=True, help="Do not call the webhook or the command of the file.")
def run_command(file: Path, state_dir: Path, as_json: bool, no_notify: bool) -> None:
    """Run the game day in FILE once, now; exit with the code of its most serious outcome."""
    from chaoskit.gameday.runner import run_gameday

    [loaded] = load_gamedays_or_exit([file])
    plugins = plugins_or_exit()
    _exit_if_experiments_invalid(loaded, plugins)
    result = run_until_signalled(lambda stop: run_gameday(
        loaded, state_dir=state_dir, plugins=plugins, stop=stop, notify=not no_notify, log=stamp))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        click.echo("\n".join(summary_lines(result)))
    raise SystemExit(result.exit_code)


def _exit_if_experiments_invalid(loaded: LoadedGameDay, plugins: Plugins) -> None:
    from chaoskit.errors import ExperimentError
    from chaoskit.experiment.loader import load_experiment

    env, failed = loaded.experiment_env(), 0
    for path in dict.fromkeys(p for stage in loaded.stages for p in stage):
        try:
            load_experiment(path, plugins.registry, env=env)
        except ExperimentError as exc:
            failed += 1
            for diagnostic in exc.diagnostics:
                click.echo(str(diagnostic), err=True)
    if failed:
        click.echo(f"{failed} experiment(s) of game day {loaded.name} invalid; nothing was run", err=True)
        raise SystemExit(EXIT_INVALID)


def summary_lines(result: GameDayResult) -> list[str]:
    out = [f"{result.outcome.value.upper()}: game day {result.gameday} ({result.reason})"]
    for run in result.experiments:
        took = f"{run.duration:6.1f}s" if run.duration is not None else "      -"
        ttr = f"TTR {run.ttr:.1f}s" if run.ttr is not None else ""
        out.append(f"  {run.stage + 1:>2}  {run.outcome.upper():<12} {took}  {run.title or run.path}  {ttr}".rstrip())
        if run.outcome != "passed":
            out.append(f"          {run.reason}")
        for fmt, path in sorted(run.reports.items()):
            out.append(f"          {fmt} report: {path}")
    for note in result.notifications:
        where = note.get("url") or " ".join(note.get("argv", []))
        state = "ok" if note.get("ok") else f"FAILED ({note.get('error')})"
        tries = f" after {note['attempts']} attempt(s)" if note.get("attempts") else ""
        out.append(f"  notified {note.get('kind')} {where}: {state}{tries}")
    if result.directory:
        out.append(f"  summary: {Path(result.directory) / 'summary.json'}")
    return out


# ------------------------------------------------------------------------------------------------------ plan


@gameday.command("plan")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--count", "-n", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many upcoming runs to list.")
@click.option("--after", "after", default=None, metavar="ISO-TIME",
              help="List runs after this time (default: now), e.g. 2025-03-29T00:00:00+01:00.")
@state_dir_option
def plan_command(file: Path, count: int, after: str | None, state_dir: Path) -> None:
    """Show FILE's next runs and what each would do, touching nothing."""
    from chaoskit.gameday.plan import plan_lines

    [loaded] = load_gamedays_or_exit([file])
    plugins = plugins_or_exit()
    start = _parse_time(after) if after else dt.datetime.now(dt.UTC).timestamp()
    lines, invalid = plan_lines(loaded, plugins, start=start, count=count, state_dir=state_dir)
    click.echo("\n".join(lines))
    if invalid:
        raise SystemExit(EXIT_INVALID)


def _parse_time(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--after") from None
    if when.tzinfo is None:
        when = when.astimezone()  # a time without zone is the machine's local time
    return when.timestamp()


# -------------------------------------------------------------------------------------------------- schedule


@gameday.command("schedule")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@state_dir_option
@click.option("--max-runs", type=click.IntRange(min=1), default=None,
              help="Exit after starting this many game-day runs (and letting them finish).")
@click.option("--stop-after", default=None, metavar="DURATION",
              help="Exit after this long (e.g. 90m); a running game day is interrupted, faults reverted.")
@click.option("--no-notify", is_flag=True, help="Do not call webhooks or commands.")
def schedule_command(files: tuple[Path, ...], state_dir: Path, max_runs: int | None, stop_after: str | None,
                     no_notify: bool) -> None:
    """Keep the game days of FILES on their cron schedules until stopped (SIGINT/SIGTERM).

    Every slot is recorded in STATE_DIR/schedule.sqlite before it starts, so a restarted scheduler neither runs a
    slot twice nor forgets one that came while it was down (within the file's starting_deadline).
    """
    from chaoskit.errors import SchedulerError
    from chaoskit.experiment.units import parse_duration
    from chaoskit.gameday.scheduler import scheduler_for_files

    try:
        limit = parse_duration(stop_after) if stop_after is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stop-after") from None
    loaded = load_gamedays_or_exit(list(files))
    plugins = plugins_or_exit()
    try:
        scheduler = scheduler_for_files(loaded, state_dir=state_dir, plugins=plugins, notify=not no_notify,
                                        log=stamp)
        run_until_signalled(lambda stop: scheduler.run(stop=stop, max_runs=max_runs, stop_after=limit))
    except SchedulerError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    sys.exit(0)
