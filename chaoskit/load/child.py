"""``python -m chaoskit.load.child --config JSON``: one load child running Locust as a library.

The child runs one Locust ``Environment`` (a ``LocalRunner``, or a ``MasterRunner`` whose workers aggregate
their own windows), collects every request from ``events.request`` into clock-aligned windows and writes one
:mod:`~chaoskit.load.protocol` line per closed window on stdout. It reads commands on stdin.

It never outlives its purpose: it stops on ``stop``, on end of file on stdin (the driver closed the pipe or
died), on SIGTERM (also sent by the kernel when the driver dies, through ``PR_SET_PDEATHSIG``), and after
``max_duration``; ``SIGALRM`` kills it outright 30 s later should the Locust loop be wedged.

The child uses Locust's global ``events`` object rather than a fresh ``Events()``: a child is one process with
exactly one Environment, so no listener can leak into another run, and listeners a locustfile adds with
``@events.test_start.add_listener`` and friends keep working unchanged.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from chaoskit.load import collector as _collector
from chaoskit.load.collector import (
    CONFIG_MESSAGE,
    HTTP_USER_NAME,
    WINDOW_MESSAGE,
    Pacing,
    WindowCollector,
    build_http_user,
    install_pacing,
)
from chaoskit.load.protocol import ChildCommand, ChildConfig, Command, MessageType, ProtocolError, encode
from chaoskit.load.slots import WorkerSlots

log = logging.getLogger("chaoskit.load.child")

MASTER_TICK = 0.1
"""Master mode: the longest the master loop sleeps (new workers are configured within this)."""
HARD_KILL_MARGIN = 30
STATS_SECONDS_KEPT = 30
WORKER_FILE = "chaoskit_load_windows.py"
COMMAND_LINE_LIMIT = 2**20
"""Longest command line read on stdin (the driver's are a few dozen bytes; past this, the child stops)."""


class SetupError(Exception):
    """The child cannot start its load (bad locustfile, missing User class, workers never joined)."""


class LoadChild:
    """One Locust environment and the windows it streams; see the module docstring."""

    def __init__(self, config: ChildConfig, out: BinaryIO) -> None:
        self.config = config
        self.out = out
        self.pacing = Pacing(config.rate, config.users)
        self.collector = WindowCollector(
            config.width, config.thresholds, grace=config.grace, keep_samples=config.keep_samples
        )
        self.target_users = config.users
        self.env: Any = None
        self.runner: Any = None
        self._stopping = False
        self._quitting = False
        self._orphaned = False
        self._done: Any = None
        self._tempdir: str | None = None
        # master mode: windows from workers, merged per slot
        self._slots = WorkerSlots(config.width, config.grace)
        self._configured: set[str] = set()
        self._trimmed_at = int(time.time())
        self.shape: Any = None
        """The locustfile's own LoadTestShape (this child's share of it), when it has one."""

    # ------------------------------------------------------------------------------------------------ output

    def send(self, kind: MessageType, **fields: Any) -> None:
        if self._orphaned:
            return
        try:
            self.out.write(encode(kind, child=self.config.index, **fields))
        except OSError:
            # Nobody reads the windows any more: the driver is gone, so stop making load.
            self._orphaned = True
            import gevent  # type: ignore[import-untyped]

            gevent.spawn(self.shutdown, "driver gone")

    def _send_window(self, payload: dict[str, Any], **extra: Any) -> None:
        total = sum(c["n"] for c in payload["names"].values())
        fields: dict[str, Any] = {
            "k": payload["k"],
            "width": self.config.width,
            "names": payload["names"],
            "cpu": payload["cpu"],
            "users": self.runner.user_count if self.config.master is None else 0,
            "target_users": self.target_users,
            "target_rate": self.pacing.rate,
            "rate": total / self.config.width,
            "workers": 0,
            "sent": time.time(),
        }
        fields.update(extra)
        self.send(MessageType.WINDOW, **fields)

    # ---------------------------------------------------------------------------------------------------- run

    def run(self) -> int:
        import gevent
        import gevent.event  # type: ignore[import-untyped]
        import locust
        from locust import events
        from locust.env import Environment

        cfg = self.config
        self._done = gevent.event.Event()
        classes, files, shape = self._user_classes()
        self.env = Environment(
            user_classes=classes,
            events=events,
            host=cfg.host,
            parsed_locustfiles=files,
            shape_class=self._follow(shape) if shape is not None else None,
            parsed_options=self._common_options(shape),
        )
        if cfg.master is None:
            self.runner = self.env.create_local_runner()
            self.env.events.request.add_listener(self.collector.on_request)
        else:
            self.runner = self.env.create_master_runner(cfg.master.bind_host, cfg.master.bind_port)
            self.runner.register_message(WINDOW_MESSAGE, self._on_worker_window)
        install_pacing(classes, self.pacing)
        self.env.events.init.fire(environment=self.env, runner=self.runner, web_ui=None)
        gevent.signal_handler(signal.SIGTERM, self.shutdown, "SIGTERM")
        gevent.spawn(self._control)
        gevent.spawn_later(cfg.max_duration, self.shutdown, "max_duration")
        if cfg.master is not None:
            self._wait_for_workers()
            self._configure_workers()
            self._slots.restart(time.time())
        if self._stopping:
            self._done.wait()
            return 0
        # As Locust's own --processes workers do: everything alive now (Locust, gevent, the locustfile) lives for
        # the whole run, so keep it out of the cyclic collector's full passes.
        gc.collect()
        gc.freeze()
        # Windows start now, not when the child started importing: earlier ones would only be empty and late.
        self.collector.restart()
        if self.shape is not None:
            self.runner.start_shape()
        elif cfg.users:
            self.runner.start(cfg.users, spawn_rate=cfg.spawn_rate)
        self.send(
            MessageType.HELLO,
            pid=os.getpid(),
            locust=locust.__version__,
            mode="local" if cfg.master is None else "master",
            workers=len(self.runner.clients) if cfg.master is not None else 0,
            slot=self.collector.next_slot if cfg.master is None else self._slots.next_slot,
        )
        gevent.spawn(self._flush_loop if cfg.master is None else self._master_loop)
        self._done.wait()
        return 0

    def _user_classes(self) -> tuple[list[type[Any]], list[str] | None, Any]:
        """The User classes to run, the locustfiles to ship to workers, and the locustfile's LoadTestShape."""
        cfg = self.config
        shape = None
        if cfg.http is not None:
            classes = [build_http_user(cfg.http)]
        else:
            from locust.util.load_locustfile import load_locustfile

            if cfg.locustfile is None or not Path(cfg.locustfile).is_file():
                raise SetupError(f"locustfile {cfg.locustfile!r} does not exist")
            try:
                found, shapes = load_locustfile(cfg.locustfile)
            except Exception as exc:
                raise SetupError(f"locustfile {cfg.locustfile} failed to import: {exc!r}") from exc
            if shapes:
                # As ``locust --headless``: the first shape class of the file runs.
                shape = shapes[0]
                if cfg.shape_declared is not None:
                    raise SetupError(
                        f"{cfg.locustfile} defines the LoadTestShape {type(shape).__name__}, and {cfg.shape_declared} "
                        "declares a load shape too: a run follows one shape (remove load.shape to follow the "
                        "locustfile's)"
                    )
            if cfg.user_classes:
                unknown = sorted(set(cfg.user_classes) - set(found))
                if unknown:
                    raise SetupError(f"no User class {', '.join(unknown)} in {cfg.locustfile}; it has {sorted(found)}")
                found = {name: found[name] for name in cfg.user_classes}
            classes = list(found.values())
            if not classes:
                raise SetupError(f"{cfg.locustfile} defines no User class (a non-abstract locust.User subclass)")
        files = None
        if cfg.master is not None:
            files = [self._worker_file()]
            if cfg.locustfile is not None:
                files.append(cfg.locustfile)
        return classes, files, shape

    def _follow(self, shape: Any) -> Any:
        """This child's share of the locustfile's shape (all of it for a master, whose workers share it)."""
        import gevent

        from chaoskit.load.locustshape import shape_share

        parts = 1 if self.config.master is not None else self.config.children
        index = 0 if self.config.master is not None else self.config.index
        self.shape = shape_share(
            shape, index, parts, on_level=self._shape_level, on_end=lambda: gevent.spawn(self.shutdown, "shape")
        )
        return self.shape

    def _shape_level(self, users: int) -> None:
        self.target_users = users
        self.pacing.users = users
        self._configure_workers(force=True)

    def _common_options(self, shape: Any) -> Any:
        """Locust's ``--users``/``--spawn-rate`` for a shape with ``use_common_options`` (the run's totals)."""
        if shape is None or not getattr(shape, "use_common_options", False):
            return None
        from locust.argument_parser import parse_options

        cfg = self.config
        users = cfg.run_users if cfg.run_users is not None else cfg.users
        spawn_rate = cfg.spawn_rate * (1 if cfg.master is not None else cfg.children)
        return parse_options(args=["--users", str(users), "--spawn-rate", str(spawn_rate)])

    def _worker_file(self) -> str:
        """The locustfile the master ships to workers: the collector's source, plus its registration."""
        self._tempdir = tempfile.mkdtemp(prefix="chaoskit-load-")
        path = Path(self._tempdir) / WORKER_FILE
        trailer = (
            "\n\n# ---- appended by the chaoskit load master: worker-side window aggregation ----\n"
            "import json as _json\n\n"
            "from locust import events as _events\n\n"
            f"_CHAOSKIT_HTTP = _json.loads({json.dumps(self.config.http)!r})\n"
            "if _CHAOSKIT_HTTP is not None:\n"
            f"    {HTTP_USER_NAME} = build_http_user(_CHAOSKIT_HTTP)\n"
            "_events.init.add_listener(on_locust_init)\n"
        )
        path.write_text(Path(_collector.__file__).read_text() + trailer)
        return str(path)

    # ------------------------------------------------------------------------------------------------ control

    def _control(self) -> None:
        from gevent.socket import wait_read  # type: ignore[import-untyped]

        buf = b""
        while True:
            try:
                wait_read(0)
                chunk = os.read(0, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.shutdown("stdin closed")
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self._command(line)
            if len(buf) > COMMAND_LINE_LIMIT:
                self.send(MessageType.ERROR, message=f"a command line is longer than {COMMAND_LINE_LIMIT} bytes")
                self.shutdown("command line too long")
                return

    def _command(self, line: bytes) -> None:
        try:
            command = ChildCommand.parse(line)
        except ProtocolError as exc:
            self.send(MessageType.ERROR, message=str(exc))
            return
        if command.cmd is Command.USERS:
            self.set_users(command.users or 0, command.spawn_rate)
        elif command.cmd is Command.RATE:
            self.set_rate(command.rate)
        else:
            self.shutdown("stop")

    def set_users(self, users: int, spawn_rate: float | None = None) -> None:
        if self._stopping:
            return
        if self.shape is not None:
            log.warning("users %d ignored: the locustfile's LoadTestShape decides the user count", users)
            return
        self.target_users = users
        self.pacing.users = users
        self._configure_workers(force=True)
        if users:
            self.runner.start(users, spawn_rate=spawn_rate or self.config.spawn_rate)
        elif self.runner.user_count:
            self.runner.stop()

    def set_rate(self, rate: float | None) -> None:
        self.pacing.rate = rate
        self._configure_workers(force=True)

    def shutdown(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        import gevent

        try:
            if self.runner is not None:
                self.runner.stop()
                if self.config.master is None:
                    for payload in self.collector.flush(final=True):
                        self._send_window(payload)
                else:
                    # Workers send each window as it closes: wait for the last one before quitting them.
                    gevent.sleep(self.config.width + self.config.grace + 0.2)
                    self._quitting = True
                    self._emit_slots(time.time(), final=True)
                self.runner.quit()
        finally:
            self.send(MessageType.STOPPED, reason=reason)
            if self._done is not None:
                self._done.set()

    # ------------------------------------------------------------------------------------------------- local

    def _flush_loop(self) -> None:
        import gevent

        while not self._stopping:
            gevent.sleep(max(self.collector.next_flush_at() - time.time(), 0.001))
            if self._stopping:
                return
            for payload in self.collector.flush():
                self._send_window(payload)
            self._trim_locust_stats()

    def _trim_locust_stats(self, keep: int = STATS_SECONDS_KEPT) -> None:
        """Drop Locust's per-second request counts older than ``keep`` seconds, once a minute.

        Locust adds one key per second per request name to these dicts for the whole run (its ``current_rps``
        reads only the last ~12 s, and chaoskit none); trimming keeps a long run's memory flat.
        """
        now = int(time.time())
        if now < self._trimmed_at + 60:
            return
        self._trimmed_at = now
        stats = self.env.stats
        for entry in [stats.total, *stats.entries.values()]:
            for per_second in (getattr(entry, "num_reqs_per_sec", None), getattr(entry, "num_fail_per_sec", None)):
                if isinstance(per_second, dict):
                    for second in [t for t in per_second if t < now - keep]:
                        del per_second[second]

    # ------------------------------------------------------------------------------------------------ master

    def _wait_for_workers(self) -> None:
        import gevent

        assert self.config.master is not None
        deadline = time.monotonic() + self.config.master.wait
        want = self.config.master.expect_workers
        while len(self.runner.clients.ready) + len(self.runner.clients.running) < want:
            if self._stopping:
                return
            if time.monotonic() > deadline:
                raise SetupError(
                    f"only {len(self.runner.clients)} of {want} Locust workers joined the master on "
                    f"{self.config.master.bind_host}:{self.config.master.bind_port} within {self.config.master.wait:g}s"
                )
            gevent.sleep(0.05)

    def _configure_workers(self, force: bool = False) -> None:
        if self.config.master is None or self.runner is None:
            return
        data = {
            "width": self.config.width,
            "thresholds": list(self.config.thresholds),
            "rate": self.pacing.rate,
            "users": self.target_users,
            "keep_samples": self.config.keep_samples,
        }
        for client_id in list(self.runner.clients):
            if force or client_id not in self._configured:
                self.runner.send_message(CONFIG_MESSAGE, data, client_id=client_id)
                self._configured.add(client_id)

    def _on_worker_window(self, environment: Any, msg: Any, **_: Any) -> None:
        if self._slots.add(msg.node_id, msg.data) and not self._quitting:
            self._emit_slots(time.time())  # the last worker's report may complete a closed slot: send it now

    def _master_loop(self) -> None:
        import gevent

        # Runs on while shutdown waits for the workers' last windows, so slots keep going out on time.
        # Waking when a slot may go out (at most every MASTER_TICK, so that a worker that joins gets its
        # configuration soon) instead of polling keeps the master's CPU, which local workers share the cores
        # with, near Locust's own master's.
        while not self._quitting:
            gevent.sleep(max(min(self._slots.wait(time.time()), MASTER_TICK), 0.001))
            if self._quitting:
                return
            self._configure_workers()
            self._emit_slots(time.time())
            self._trim_locust_stats()

    def _emit_slots(self, now: float, final: bool = False) -> None:
        for window in self._slots.ready(now, set(self.runner.clients), final=final):
            extra = {key: window[key] for key in ("users", "workers", "partial", "late")}
            self._send_window(window, **extra)


def _exit_with_parent() -> None:
    """Ask the kernel for SIGTERM when the process that started us dies (Linux only; stdin EOF elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.load.child", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the child's ChildConfig as JSON")
    args = parser.parse_args(argv)
    try:
        config = ChildConfig.from_json(args.config)
    except ValueError as exc:
        # A driver on another host sent it (``chaoskit load child --listen``): answer, never a traceback.
        os.write(1, encode(MessageType.ERROR, child=None, message=f"load child configuration: {exc}"))
        return 2
    # The protocol keeps the real stdout; anything a locustfile prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    _exit_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when load stops, not a terminal's ^C
    signal.alarm(int(config.max_duration) + HARD_KILL_MARGIN)
    logging.basicConfig(level=config.loglevel, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    child = LoadChild(config, out)
    try:
        return child.run()
    except SetupError as exc:
        child.send(MessageType.ERROR, message=str(exc))
        return 2
    except Exception as exc:
        traceback.print_exc()
        child.send(MessageType.ERROR, message=f"load child failed: {exc!r}")
        return 1
    finally:
        if child._tempdir is not None:
            import shutil

            shutil.rmtree(child._tempdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
