"""Helpers shared by the subcommands: building plugins and loading experiments with clean errors."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from chaoskit.errors import FileDiagnosticsError, PluginError

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment
    from chaoskit.plugins import Plugins

# The model (pydantic) and the plugin manager (pluggy, every built-in kind) are imported where they are used,
# so ``chaoskit <command> --help`` and commands that never load an experiment stay cheap.

EXIT_INVALID = 2
T = TypeVar("T")

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".chaoskit",
    show_default=True,
    envvar="CHAOSKIT_STATE_DIR",
    help="Where the ledger and run journals live.",
)


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """Build plugins and load experiments with the cyclic garbage collector paused, then freeze what they made.

    Start-up creates a few hundred thousand objects that live until exit (modules, classes, validators). The
    collector would walk them over and over for nothing while they are made, and once more at exit; frozen,
    later collections (a run's, the last one at exit) skip them, and what a run allocates is collected as usual.
    Only when chaoskit is the program: a test or tool calling the CLI in-process keeps its objects collectable.
    """
    from chaoskit.cli import AS_PROGRAM

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if AS_PROGRAM.get():
            gc.freeze()
        if enabled:
            gc.enable()


def plugins_or_exit() -> Plugins:
    from chaoskit.plugins import plugin_manager

    try:
        return plugin_manager()
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INVALID) from None


def load_or_exit(paths: list[Path], plugins: Plugins) -> list[tuple[Path, Experiment]]:
    """Load every file; on any error print every diagnostic of every file and exit 2."""
    from chaoskit.experiment.loader import load_experiment

    return load_all_or_exit(paths, lambda path: (path, load_experiment(path, plugins.registry)), "experiment")


def load_all_or_exit(paths: list[Path], load: Callable[[Path], T], what: str) -> list[T]:
    """``load`` every file; if any raises a FileDiagnosticsError, print every diagnostic of every file, exit 2."""
    loaded, failed = [], 0
    for path in paths:
        try:
            loaded.append(load(path))
        except FileDiagnosticsError as exc:
            failed += 1
            for diagnostic in exc.diagnostics:
                click.echo(str(diagnostic), err=True)
    if failed:
        click.echo(f"{failed} of {len(paths)} {what} file(s) invalid; nothing was run", err=True)
        raise SystemExit(EXIT_INVALID)
    return loaded
