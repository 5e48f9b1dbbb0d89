"""The load driver: the runner's side of Locust load. It never imports locust or gevent.

:class:`LocustLoad` starts load children (``python -m chaoskit.load.child``) as asyncio subprocesses, one per
core it is given, splits users and rate among them, follows the load shape by sending them commands, and merges
their window reports per time slot into :class:`~chaoskit.slo.window.Window` records (``source="load"``, one per
request name per slot). In distributed mode it starts one child holding a Locust master, plus any local
``locust --worker`` processes.

Every child is bounded: it stops on ``stop``, when its stdin closes, when this process dies, and after the plan's
``max_duration``; :meth:`LocustLoad.stop` (or cancelling the task that iterates :meth:`LocustLoad.windows`)
asks each child to stop and kills any that has not exited ``stop_timeout`` seconds later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import chaoskit
from chaoskit.errors import LoadError
from chaoskit.load.merge import SlotMerger, SlotSummary
from chaoskit.load.protocol import (
    OWN_ENDS,
    ChildCommand,
    ChildConfig,
    Command,
    MessageType,
    ProtocolError,
    decode,
)
from chaoskit.load.remote import RemoteChild, connect
from chaoskit.load.shapes import Level
from chaoskit.registry import LoadGenerator
from chaoskit.slo.histogram import LatencyHistogram
from chaoskit.slo.window import Window

_SCHEDULE_TICK = 0.1
_LOG_TAIL = 4000


@dataclass(frozen=True)
class LoadPlan:
    """What to run: a child configuration (per-child users and rate are filled in from the schedule), how many
    children, and the level over time.

    :param schedule: the level ``elapsed`` seconds after the load started; followed every 100 ms.
    :param local_workers: distributed mode: Locust workers to start on this machine for the master child.
    :param remote: ``HOST:PORT`` of load children listening on other hosts (``chaoskit load child --listen``),
        each one more child next to the ``processes`` started here (``processes`` may be 0).
    :param log_dir: where each child's stderr goes (``load-child-N.log``); default: a temporary directory.
    """

    child: ChildConfig
    processes: int = 1
    schedule: Callable[[float], Level] | None = None
    local_workers: int = 0
    remote: tuple[str, ...] = ()
    log_dir: Path | None = None
    start_timeout: float = 60.0
    stop_timeout: float = 5.0
    merge_timeout: float = 0.5

    @property
    def distributed(self) -> bool:
        return self.child.master is not None


@dataclass
class _Process:
    name: str
    index: int
    proc: asyncio.subprocess.Process | RemoteChild
    log_path: Path | None = None
    log: IO[bytes] | None = None

    def tail(self) -> str:
        """The end of a local child's stderr (a remote child's stays on its host)."""
        if self.log is None or self.log_path is None:
            return ""
        self.log.flush()
        try:
            data = self.log_path.read_bytes()[-_LOG_TAIL:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()


class LocustLoad(LoadGenerator):
    """Locust load in child processes, streamed as windows. Iterate :meth:`windows` once."""

    def __init__(self, plan: LoadPlan, *, python: str = sys.executable, source: str = "load") -> None:
        self.plan = plan
        self.python = python
        self.merger = SlotMerger(plan.child.width, plan.child.thresholds, source=source, timeout=plan.merge_timeout)
        self._children: list[_Process] = []
        self._workers: list[_Process] = []
        self._live: set[int] = set()
        self._events: asyncio.Queue[tuple[int, dict[str, Any] | Exception | None]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []
        self._level: list[Level] = []
        self._iterated = False
        self._stopping = False
        self._shutdown_task: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.hellos: dict[int, dict[str, Any]] = {}
        self.delivery_lag = LatencyHistogram()
        """From each merged window's end to its delivery here (the figure behind "windows arrive in time")."""
        self.emit_lag = LatencyHistogram()
        """From each window's end until a child sent its report (the child's share of the delivery lag)."""
        self.pipe_lag = LatencyHistogram()
        """From a child sending a report until the driver read it (the pipe's and the event loop's share)."""

    # ---------------------------------------------------------------------------------------------- public

    @property
    def status(self) -> SlotSummary | None:
        """The last merged slot: achieved rate, users, target, CPU, whether it was measurement-limited."""
        return self.merger.last

    @property
    def pids(self) -> list[int]:
        """Process ids of the children and workers on this machine."""
        return [p.proc.pid for p in self._children + self._workers if not isinstance(p.proc, RemoteChild)]

    async def windows(self) -> AsyncIterator[Window]:
        """Start the children and yield merged windows until the load stops (then the iterator ends).

        Raises :class:`LoadError` when a child cannot start, reports an error, or exits on its own.
        """
        if self._iterated:
            raise RuntimeError("LocustLoad.windows() can be iterated only once")
        self._iterated = True
        if self._stopping:  # stopped before it ever started
            return
        follower: asyncio.Task[None] | None = None
        try:
            await self._start()
            if self.plan.schedule is not None:
                follower = asyncio.create_task(self._follow_schedule(self.plan.schedule))
            deadline = time.monotonic() + self.plan.child.max_duration
            stop_sent = False
            while self._live:
                if (self._stopping or time.monotonic() > deadline) and not stop_sent:
                    self._stopping = stop_sent = True
                    await self._send_all(ChildCommand(Command.STOP))
                event = await self._next_event()
                if event is not None:
                    self._handle(*event)
                for window in self.merger.ready(time.time(), self._live):
                    self._note_delivery(window)
                    yield window
            for window in self.merger.drain():
                yield window
        finally:
            if follower is not None:
                follower.cancel()
            await asyncio.shield(self._shutdown())
            if self._readers:  # every child is gone, so each reader is at end of file
                _, pending = await asyncio.wait(self._readers, timeout=1.0)
                for reader in pending:
                    reader.cancel()

    async def stop(self) -> None:
        """Stop the load: children flush their last windows and exit (killed after ``stop_timeout``)."""
        self._stopping = True
        await asyncio.shield(self._shutdown())

    async def set_level(self, users: int, rate: float | None = None, *, spawn_rate: float | None = None) -> None:
        """Change the number of users and the target rate now (a schedule overrides it at its next change)."""
        await self._apply(Level(users, rate), spawn_rate=spawn_rate)

    # -------------------------------------------------------------------------------------------- children

    async def _start(self) -> None:
        plan = self.plan
        if plan.log_dir is not None:
            log_dir = plan.log_dir
            log_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._tempdir = tempfile.TemporaryDirectory(prefix="chaoskit-load-")
            log_dir = Path(self._tempdir.name)
        if plan.distributed and plan.remote:
            raise LoadError("a distributed plan has one child, its master: remote children go with local ones")
        count = 1 if plan.distributed else plan.processes + len(plan.remote)
        if count < 1:
            raise LoadError("no load children: give processes or remote children")
        first = plan.schedule(0.0) if plan.schedule is not None else Level(plan.child.users, plan.child.rate)
        self._level = first.split(count)
        self._started_at = time.monotonic()
        local = count - len(plan.remote)  # children 0..local-1 run here, the rest on plan.remote, in order
        run_users = plan.child.users if plan.child.run_users is None else plan.child.run_users
        try:
            for i, level in enumerate(self._level):
                config = dataclasses.replace(
                    plan.child,
                    index=i,
                    users=level.users,
                    rate=level.rate,
                    spawn_rate=plan.child.spawn_rate / count,
                    children=count,
                    run_users=run_users,
                )
                if i < local:
                    args = ["-m", "chaoskit.load.child", "--config", config.to_json()]
                    self._children.append(await self._spawn(f"load-child-{i}", i, args, log_dir))
                else:
                    address = plan.remote[i - local]
                    remote = await connect(address, config, timeout=plan.start_timeout)
                    self._children.append(_Process(f"load-child-{i} ({address})", i, remote))
                self._live.add(i)
                self._readers.append(asyncio.create_task(self._read(self._children[-1])))
            if plan.child.master is not None:
                master = plan.child.master
                for j in range(plan.local_workers):
                    args = [
                        "-m", "chaoskit.load.worker",
                        "--master-host", master.bind_host,
                        "--master-port", str(master.bind_port),
                        "--max-duration", str(plan.child.max_duration),
                        "--exit-with-parent",
                    ]  # fmt: skip
                    self._workers.append(await self._spawn(f"load-worker-{j}", -1 - j, args, log_dir, stdout=True))
            async with asyncio.timeout(plan.start_timeout):
                while len(self.hellos) < len(self._children):
                    event = await self._events.get()
                    self._handle(*event)
        except TimeoutError:
            raise LoadError(
                f"load children did not start within {plan.start_timeout:g}s",
                log=self._children[0].tail() if self._children else "",
            ) from None

    async def _spawn(self, name: str, index: int, args: list[str], log_dir: Path, *, stdout: bool = False) -> _Process:
        log_path = log_dir / f"{name}.log"
        log = log_path.open("wb")
        env = dict(os.environ)
        # chaoskit may be run from a source tree rather than installed: children must import the same one.
        root = str(Path(chaoskit.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            self.python,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=log if stdout else asyncio.subprocess.PIPE,
            stderr=log,
            env=env,
            # Its own process group, so a ^C at the terminal reaches only the runner, which stops the load in
            # order. Not its own session: that would put it in its own scheduler autogroup, measured to cost
            # ~10 % more CPU per request under contention.
            process_group=0,
        )
        return _Process(name, index, proc, log_path, log)

    async def _read(self, child: _Process) -> None:
        assert child.proc.stdout is not None
        try:
            while line := await child.proc.stdout.readline():
                try:
                    message: dict[str, Any] | Exception = decode(line)
                except ProtocolError as exc:
                    message = exc
                self._events.put_nowait((child.index, message))
        except (ValueError, OSError) as exc:  # a line longer than the stream limit, or a broken pipe
            self._events.put_nowait((child.index, LoadError(f"{child.name}: {exc}", child=child.index)))
        finally:
            await child.proc.wait()
            self._events.put_nowait((child.index, None))

    async def _next_event(self) -> tuple[int, dict[str, Any] | Exception | None] | None:
        deadline = self.merger.next_deadline()
        timeout = None if deadline is None else max(deadline - time.time(), 0.0) + 0.001
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races with an event.
        try:
            async with asyncio.timeout(timeout):
                return await self._events.get()
        except TimeoutError:
            return None

    def _handle(self, index: int, message: dict[str, Any] | Exception | None) -> None:
        child = self._children[index]
        if message is None:
            self._live.discard(index)
            if not self._stopping:
                raise LoadError(
                    f"{child.name} exited on its own (code {child.proc.returncode})", child=index, log=child.tail()
                )
            return
        if isinstance(message, Exception):
            raise message
        kind = message["type"]
        if kind == MessageType.WINDOW:
            self.merger.add(index, message)
            if "sent" in message:
                sent = float(message["sent"])
                end = (int(message["k"]) + 1) * float(message.get("width", self.plan.child.width))
                self.emit_lag.record(sent - end)
                self.pipe_lag.record(time.time() - sent)
        elif kind == MessageType.HELLO:
            self.hellos[index] = message
            if "slot" in message:
                self.merger.expect(index, int(message["slot"]))
        elif kind == MessageType.ERROR:
            raise LoadError(f"{child.name}: {message.get('message')}", child=index, log=child.tail())
        elif kind == MessageType.STOPPED and not self._stopping:
            if message.get("reason") not in OWN_ENDS:
                raise LoadError(f"{child.name} stopped on its own ({message.get('reason')})", child=index)
            self._stopping = True  # a planned end (time bound, shape over): the load ends, the other children follow

    def _note_delivery(self, window: Window) -> None:
        self.delivery_lag.record(time.time() - window.end)

    # -------------------------------------------------------------------------------------------- commands

    async def _follow_schedule(self, schedule: Callable[[float], Level]) -> None:
        assert self._started_at is not None
        last = schedule(0.0)
        while True:
            await asyncio.sleep(_SCHEDULE_TICK)
            level = schedule(time.monotonic() - self._started_at)
            if level != last:
                await self._apply(level)
                last = level

    async def _apply(self, level: Level, *, spawn_rate: float | None = None) -> None:
        parts = level.split(len(self._children) or 1)
        spawn = (spawn_rate or self.plan.child.spawn_rate) / max(len(self._children), 1)
        for child, old, new in zip(self._children, self._level, parts, strict=False):
            lines = b""
            if new.rate != old.rate:
                lines += ChildCommand(Command.RATE, rate=new.rate).to_line()
            if new.users != old.users:
                lines += ChildCommand(Command.USERS, users=new.users, spawn_rate=spawn).to_line()
            if lines:
                await self._write(child, lines)
        self._level = parts

    async def _send_all(self, command: ChildCommand) -> None:
        for child in self._children:
            await self._write(child, command.to_line())

    @staticmethod
    async def _write(child: _Process, data: bytes) -> None:
        stdin = child.proc.stdin
        if stdin is None or stdin.is_closing() or child.proc.returncode is not None:
            return
        with contextlib.suppress(ConnectionError, OSError):
            stdin.write(data)
            await stdin.drain()

    # -------------------------------------------------------------------------------------------- shutdown

    async def _shutdown(self) -> None:
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.create_task(self._stop_processes())
        await asyncio.shield(self._shutdown_task)

    async def _stop_processes(self) -> None:
        self._stopping = True
        await self._send_all(ChildCommand(Command.STOP))
        for p in self._children + self._workers:  # end of file also means stop (workers know only that)
            if p.proc.stdin is not None:
                p.proc.stdin.close()
        await self._reap(self._children)
        await self._reap(self._workers)
        for p in self._children + self._workers:
            if p.log is not None:
                p.log.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    async def _reap(self, processes: list[_Process]) -> None:
        waits = [p.proc.wait() for p in processes]
        if not waits:
            return
        _, pending = await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=self.plan.stop_timeout)
        for p in processes:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.kill()
        if pending:
            await asyncio.wait(pending, timeout=self.plan.stop_timeout)
