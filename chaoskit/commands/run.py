"""``chaoskit run``: run experiments, show them live, print the verdict, exit with the outcome's code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from chaoskit.commands._common import load_or_exit, plugins_or_exit, start_up, state_dir_option
from chaoskit.runner.result import Outcome, RunResult

# when several experiments run, the exit code is that of the most serious outcome
_SEVERITY = [Outcome.PASSED, Outcome.INCONCLUSIVE, Outcome.FAILED, Outcome.ERROR, Outcome.INVALID, Outcome.INTERRUPTED]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@state_dir_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the outcome line.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout (no live view).")
@click.option("--report", "reports", multiple=True, metavar="FORMAT:PATH",
              help="Also write a report, e.g. --report html:out/run.html; formats: text, json, html, junit, md "
                   "and any a plugin adds (repeatable).")
def run(files: tuple[Path, ...], state_dir: Path, quiet: bool, as_json: bool, reports: tuple[str, ...]) -> None:
    """Run experiment FILES one after the other and print each verdict."""
    with start_up():
        plugins = plugins_or_exit()
        wanted = [_parse_report(r, plugins) for r in reports]
        experiments = load_or_exit(list(files), plugins)
        from chaoskit.api import run_experiment
    results: list[RunResult] = []
    for path, experiment in experiments:
        live = None if (quiet or as_json or not sys.stderr.isatty()) else _LiveStarter()
        result = run_experiment(experiment, plugins=plugins, state_dir=state_dir, source=path,
                                on_runner=live.attach if live else None)
        if live:
            live.stop()
        results.append(result)
        _write_reports(result, wanted, plugins)
        if as_json:
            continue
        if quiet:
            click.echo(f"{result.outcome.value.upper()}: {result.title} ({path})")
        else:
            from chaoskit.report.text import render_text

            click.echo(render_text(result))
        if result.outcome is Outcome.INTERRUPTED:
            break
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2, default=str))
    worst = max((r.outcome for r in results), key=_SEVERITY.index)
    raise SystemExit(worst.exit_code)


def _parse_report(text: str, plugins: Any) -> tuple[str, Path]:
    fmt, sep, path = text.partition(":")
    if not sep or not path:
        raise click.BadParameter(f"{text!r}: expected FORMAT:PATH, e.g. json:result.json", param_hint="--report")
    if fmt not in plugins.registry.reporters:
        known = ", ".join(sorted(plugins.registry.reporters))
        raise click.BadParameter(f"unknown report format {fmt!r}; known: {known}", param_hint="--report")
    return fmt, Path(path)


def _write_reports(result: RunResult, wanted: list[tuple[str, Path]], plugins: Any) -> None:
    if not wanted:
        return
    from chaoskit.runner.journal import read_events

    events = read_events(result.journal) if result.journal else []
    for fmt, path in wanted:
        try:  # a broken reporter must not cost the run its verdict and exit code
            text = plugins.registry.reporters[fmt].render(result, events)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except Exception as exc:
            click.echo(f"report {fmt} to {path} failed: {type(exc).__name__}: {exc}", err=True)
            continue
        click.echo(f"report: {path}", err=True)


class _LiveStarter:
    """Starts a rich Live view on stderr once the runner exists."""

    def __init__(self) -> None:
        self._live: Any = None

    def attach(self, runner: Any) -> None:
        from rich.console import Console
        from rich.live import Live

        from chaoskit.report.live import LiveView

        self._live = Live(LiveView(runner), console=Console(stderr=True), refresh_per_second=4, transient=True)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
