"""``chaoskit report``: render a finished run's journal in any registered format."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chaoskit.commands._common import plugins_or_exit


@click.command()
@click.argument("journal", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", default="text", show_default=True, help="A registered report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
def report(journal: Path, fmt: str, output: Path | None) -> None:
    """Render the run whose JOURNAL (a journal.jsonl or its run directory) is given."""
    from chaoskit.runner.journal import JOURNAL_FILE, RESULT_FILE, read_events
    from chaoskit.runner.result import RunResult

    registry = plugins_or_exit().registry
    if fmt not in registry.reporters:
        raise click.BadParameter(f"unknown format {fmt!r}; known: {', '.join(sorted(registry.reporters))}",
                                 param_hint="--format")
    run_dir = journal if journal.is_dir() else journal.parent
    try:
        result = RunResult.from_json(json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8")))
        events = read_events(run_dir / JOURNAL_FILE)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{run_dir} does not hold a finished run ({exc}); run it with `chaoskit run`") from None
    text = registry.reporters[fmt].render(result, events)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"report: {output}", err=True)
