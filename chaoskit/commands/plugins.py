"""``chaoskit plugins``: what is installed and which kinds each plugin registers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from chaoskit.commands._common import plugins_or_exit


@click.command()
def plugins() -> None:
    """List plugins and the fault, probe, load and report kinds they register."""
    pm = plugins_or_exit()
    reg = pm.registry
    for name, where in pm.names():
        click.echo(f"{name}  ({where})")
    tables: tuple[tuple[str, Mapping[str, Any], str], ...] = (
        ("faults", reg.faults, "fault"),
        ("probes", reg.probes, "probe"),
        ("load generators", reg.load_generators, "load generator"),
        ("reporters", reg.reporters, "reporter"),
    )
    for title, table, prefix in tables:
        click.echo(f"\n{title}:")
        for kind_name, kind in sorted(table.items()):
            click.echo(f"  {kind_name:<20} {kind.summary}  [{reg.origin[f'{prefix}:{kind_name}']}]")
