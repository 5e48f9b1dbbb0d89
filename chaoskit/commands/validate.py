"""``chaoskit validate`` and ``chaoskit schema``: check experiment files, print the format's JSON Schema."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from chaoskit.commands._common import start_up
from chaoskit.errors import Diagnostic, ExperimentError, PluginError

if TYPE_CHECKING:
    from chaoskit.registry import Registry

EXIT_OK = 0
EXIT_INVALID = 2


def _registry_or_exit() -> Registry:
    from chaoskit.plugins import plugin_manager

    try:
        return plugin_manager().registry
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None


def _check(path: str, registry: Registry) -> list[Diagnostic]:
    from chaoskit.experiment.loader import load_experiment, load_experiment_text

    try:
        if path == "-":
            load_experiment_text(sys.stdin.buffer.read(), "<stdin>", registry)
        else:
            load_experiment(path, registry)
    except ExperimentError as exc:
        return exc.diagnostics
    return []


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as a JSON list.")
@start_up()
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check experiment FILES (- for standard input) and report every error, each as file:line:col.

    Exits 0 when every file is valid, 2 otherwise.
    """
    registry = _registry_or_exit()
    found: list[Diagnostic] = []
    invalid = 0
    for path in files:
        try:
            diagnostics = _check(path, registry)
        except PluginError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(EXIT_INVALID) from None
        found.extend(diagnostics)
        invalid += bool(diagnostics)
        if not as_json:
            for diagnostic in diagnostics:
                click.echo(str(diagnostic))
            if not diagnostics:
                click.echo(f"ok: {path}")
    if as_json:
        click.echo(json.dumps([asdict(d) for d in found], indent=2))
    files_text = "file" if len(files) == 1 else "files"
    if invalid:
        errors = "error" if len(found) == 1 else "errors"
        click.echo(f"{len(found)} {errors} in {invalid} of {len(files)} {files_text}", err=True)
        raise SystemExit(EXIT_INVALID)
    click.echo(f"{len(files)} {files_text} valid", err=True)


@click.command()
@click.option("--indent", type=click.IntRange(0, 8), default=2, show_default=True, help="Spaces per level.")
def schema(indent: int) -> None:
    """Print the JSON Schema (draft 2020-12) of experiment files, with the installed fault and probe kinds."""
    from chaoskit.experiment.schema import experiment_schema

    registry = _registry_or_exit()
    try:
        document = experiment_schema(registry)
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    click.echo(json.dumps(document, indent=indent or None, ensure_ascii=False))
