"""``chaoskit load ...``: commands for distributed load (registered lazily by ``chaoskit.cli``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from chaoskit.experiment.model import parse_host_port

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def load() -> None:
    """Locust load for chaoskit experiments."""


def _max_duration(help: str) -> Callable[[F], F]:
    """The bound every long-running load command has (it stops by itself)."""
    return click.option(
        "--max-duration", type=click.FloatRange(min=1), default=4 * 3600.0, show_default=True, help=help
    )


@load.command()
@click.option(
    "--master", "master", required=True, metavar="HOST[:PORT]", help="The load master (port 5557 by default)."
)
@click.option(
    "-f", "--locustfile", default="-", show_default=True, help="Locustfile(s); '-' fetches them from the master."
)
@click.option("--processes", type=click.IntRange(min=1), default=None, help="Fork this many worker processes.")
@_max_duration("Exit after this many seconds.")
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


@load.command()
@click.option(
    "--listen",
    "listen",
    default="127.0.0.1:5590",
    show_default=True,
    metavar="HOST:PORT",
    help="Where drivers connect. Whoever can connect runs the locustfile they send: 127.0.0.1 or a trusted network.",
)
@_max_duration("Stop listening (and stop its children) after this many seconds.")
@click.option(
    "--max-children",
    type=click.IntRange(min=1),
    default=None,
    help="Children at once (more connections are refused with an error line)  [default: the number of CPUs]",
)
def child(listen: str, max_duration: float, max_children: int | None) -> None:
    """Run load children for a driver on another host: one per connection, same JSON-lines protocol."""
    from chaoskit.load.listen import ListenError, serve

    try:
        host, port = parse_host_port(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    try:
        serve(
            host,
            port,
            max_duration=max_duration,
            max_children=max_children,
            on_ready=lambda h, p: click.echo(f"listening {h}:{p}"),
        )
    except ListenError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        raise SystemExit(130) from None
