"""``chaoskit recover``: revert what a crashed run left behind, from the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from chaoskit.commands._common import plugins_or_exit, state_dir_option


@click.command()
@state_dir_option
@click.option("--force", is_flag=True, help="Also revert faults of runs that still seem to be running.")
@click.option("--list", "list_only", is_flag=True, help="Only list open ledger entries.")
def recover(state_dir: Path, force: bool, list_only: bool) -> None:
    """Revert and verify every fault left open in the ledger. Safe to run any number of times."""
    from chaoskit.runner.ledger import Ledger
    from chaoskit.runner.recover import recover as do_recover

    ledger = Ledger(state_dir)
    if list_only:
        entries = ledger.open_entries()
        for e in entries:
            click.echo(f"{e.id}  {e.kind:<16} {e.fault:<20} {e.target}  (run {e.run_id}, pid {e.pid})")
        click.echo(f"{len(entries)} open ledger entr{'y' if len(entries) == 1 else 'ies'} in {ledger.path}")
        return
    results = asyncio.run(do_recover(ledger, plugins_or_exit().registry, force=force))
    for r in results:
        mark = "reverted" if r.ok else "NOT REVERTED"
        click.echo(f"{mark}: {r.entry.kind} {r.entry.fault} on {r.entry.target} (run {r.entry.run_id}): {r.message}")
    failed = [r for r in results if not r.ok]
    if not results:
        click.echo(f"nothing to recover: no open entries in {ledger.path}")
    elif failed:
        click.echo(f"{len(failed)} fault(s) could not be reverted", err=True)
        raise SystemExit(3)
