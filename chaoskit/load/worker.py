"""``python -m chaoskit.load.worker``: a Locust worker that also streams 250 ms windows to its master.

It is ``locust --worker`` with chaoskit's window aggregation registered first (the master ships the same code
with ``-f -``, so a plain ``locust --worker`` works too), plus bounds: it exits after ``--max-duration``, and
with ``--exit-with-parent`` also when its stdin closes or the process that started it dies.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys

DEFAULT_MAX_DURATION = 4 * 3600.0
HARD_KILL_MARGIN = 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--master-host", default="127.0.0.1", help="where the chaoskit load master listens")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("-f", "--locustfile", default="-", help="locustfile(s); '-' fetches them from the master")
    parser.add_argument("--processes", type=int, default=None, help="fork this many worker processes")
    parser.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION, help="exit after this long (s)")
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when stdin closes or the parent dies")
    return parser.parse_args(argv)


def locust_argv(args: argparse.Namespace) -> list[str]:
    argv = ["locust", "--worker", "--master-host", args.master_host, "--master-port", str(args.master_port)]
    argv += ["-f", args.locustfile, "--loglevel", args.loglevel]
    if args.processes:
        argv += ["--processes", str(args.processes)]
    return argv


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.alarm(int(args.max_duration) + HARD_KILL_MARGIN)
    if args.exit_with_parent:
        from chaoskit.load.child import _exit_with_parent

        _exit_with_parent()
    import gevent  # type: ignore[import-untyped]
    import locust.main
    from locust import events

    from chaoskit.load.collector import on_locust_init

    events.init.add_listener(on_locust_init)  # type: ignore[no-untyped-call]
    gevent.spawn_later(args.max_duration, os.kill, os.getpid(), signal.SIGTERM)
    if args.exit_with_parent:
        gevent.spawn(_exit_on_eof)
    sys.argv = locust_argv(args)
    gc.collect()  # as the load children do: long-lived imports stay out of the collector's full passes
    gc.freeze()
    locust.main.main()  # type: ignore[no-untyped-call]
    return 0


def _exit_on_eof() -> None:
    from gevent.socket import wait_read  # type: ignore[import-untyped]

    while True:
        try:
            wait_read(0)
            if os.read(0, 4096):
                continue
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # Locust's own handler shuts the worker down cleanly
        return


if __name__ == "__main__":
    sys.exit(main())
