"""``chaoskit report``: render a finished run's journal in any registered format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chaoskit.commands._common import plugins_or_exit

if TYPE_CHECKING:
    from chaoskit.registry import ReporterKind


@click.command()
@click.argument("journal", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", default=None,
              help="A registered report format: text, json, html, junit, md, ... (default: from -o's suffix, "
                   "else text).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
def report(journal: Path, fmt: str | None, output: Path | None) -> None:
    """Render the run whose JOURNAL (a journal.jsonl or its run directory) is given."""
    from chaoskit.runner.journal import JOURNAL_FILE, RESULT_FILE, read_events
    from chaoskit.runner.result import RunResult

    registry = plugins_or_exit().registry
    if fmt is None:
        fmt = _format_of(output, registry.reporters) if output is not None else "text"
    if fmt not in registry.reporters:
        raise click.BadParameter(f"unknown format {fmt!r}; known: {', '.join(sorted(registry.reporters))}",
                                 param_hint="--format")
    run_dir = journal if journal.is_dir() else journal.parent
    try:
        result = RunResult.from_json(json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8")))
        events = read_events(run_dir / JOURNAL_FILE)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            f"{run_dir} does not hold a finished run ({exc}); run it with `chaoskit run`"
        ) from None
    text = registry.reporters[fmt].render(result, events)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"report: {output}", err=True)


def _format_of(output: Path, reporters: Mapping[str, ReporterKind]) -> str:
    """The format whose suffix ends ``output``'s name (the longest wins: ``.junit.xml`` before ``.xml``)."""
    name = output.name.lower()
    matches = [(len(k.suffix), k.name) for k in reporters.values() if k.suffix and name.endswith(k.suffix.lower())]
    return max(matches)[1] if matches else "text"
