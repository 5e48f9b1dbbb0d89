"""The ``chaoskit`` command. The only place that prints results and chooses exit codes.

Subcommands are imported lazily (``chaoskit --help`` must stay fast), each from ``chaoskit.commands.<name>``
or the module named in ``_LAZY``.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Sequence
from typing import Any

import click

from chaoskit._version import __version__

# name -> (module, attribute, one-line help shown by --help without importing the module)
_LAZY: dict[str, tuple[str, str, str]] = {
    "run": ("chaoskit.commands.run", "run", "Run experiments and print their verdicts."),
    "validate": ("chaoskit.commands.validate", "validate", "Check experiment files and report every error."),
    "plan": ("chaoskit.commands.plan", "plan", "Show what a run would do, touching nothing."),
    "schema": ("chaoskit.commands.validate", "schema", "Print the JSON Schema of the experiment format."),
    "plugins": ("chaoskit.commands.plugins", "plugins", "List plugins and the kinds they register."),
    "recover": ("chaoskit.commands.recover", "recover", "Revert faults a crashed run left open."),
    "report": ("chaoskit.commands.report", "report", "Render a run's journal as a report."),
    "proxy": ("chaoskit.proxy.cli", "proxy", "Run the Toxiproxy-compatible proxy server."),
    "load": ("chaoskit.load.cli", "load", "Locust workers and listening load children for distributed load."),
    "gameday": ("chaoskit.commands.gameday", "gameday", "Run suites of experiments now or on a cron schedule."),
    "history": ("chaoskit.commands.history", "history", "Pass rates, flaky experiments and TTR over past runs."),
}


# True while the command line of this process runs (the console script, python -m chaoskit), False when a test or
# another tool calls the CLI in-process: only then may commands freeze the objects they start up with (see
# chaoskit.commands._common.start_up), since the process ends with the command.
AS_PROGRAM: contextvars.ContextVar[bool] = contextvars.ContextVar("chaoskit_as_program", default=False)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        token = AS_PROGRAM.set(args is None)  # click reads sys.argv: this process's own command line
        try:
            return super().main(args, *rest, **extra)
        finally:
            AS_PROGRAM.reset(token)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            module, attr, _ = _LAZY[cmd_name]
            try:
                command: click.Command = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as exc:
                if exc.name and module.startswith(exc.name):
                    return None
                raise
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _LAZY[name][2]) for name in sorted(_LAZY)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="chaoskit")
def main() -> None:
    """chaoskit: prove that a system keeps its SLOs when things break."""


def run_main(argv: list[str] | None = None) -> Any:
    """Entry point for ``python -m chaoskit``."""
    return main.main(args=argv, prog_name="chaoskit")
