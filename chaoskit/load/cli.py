"""``chaoskit load ...``: commands for distributed load (registered lazily by ``chaoskit.cli``)."""

from __future__ import annotations

import os
import sys

import click

from chaoskit.experiment.model import parse_host_port


@click.group()
def load() -> None:
    """Locust load for chaoskit experiments."""


@load.command()
@click.option(
    "--master", "master", required=True, metavar="HOST[:PORT]", help="The load master (port 5557 by default)."
)
@click.option(
    "-f", "--locustfile", default="-", show_default=True, help="Locustfile(s); '-' fetches them from the master."
)
@click.option("--processes", type=click.IntRange(min=1), default=None, help="Fork this many worker processes.")
@click.option(
    "--max-duration",
    type=click.FloatRange(min=1),
    default=4 * 3600.0,
    show_default=True,
    help="Exit after this many seconds.",
)
@click.option("--loglevel", default="WARNING", show_default=True)
def worker(master: str, locustfile: str, processes: int | None, max_duration: float, loglevel: str) -> None:
    """Start a Locust worker that joins a chaoskit load master and streams its windows to it."""
    try:
        host, port = parse_host_port(master if ":" in master else f"{master}:5557")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--master") from exc
    argv = [sys.executable, "-m", "chaoskit.load.worker", "--master-host", host, "--master-port", str(port)]
    argv += ["-f", locustfile, "--max-duration", str(max_duration), "--loglevel", loglevel]
    if processes:
        argv += ["--processes", str(processes)]
    # Locust patches the whole process with gevent: run it as a fresh program, not inside this one.
    os.execv(sys.executable, argv)
