"""``chaoskit load child --listen HOST:PORT``: load children for a driver on another host, over TCP.

The same child protocol as on a pipe, on a socket: the driver connects and sends one *start* line, then commands;
the child sends ``hello``, windows and ``stopped``. The start line carries the child's configuration and, for a
locustfile, its source (as Locust's master ships it to ``-f -`` workers, so helper modules of its own are not
shipped)::

    {"v": 1, "config": {...ChildConfig...}, "locustfile": {"name": "locustfile.py", "source": "..."}}

For each connection the listener starts a fresh ``python -m chaoskit.load.child`` (Locust patches its whole
process, so one run per process) whose stdin and stdout *are* the socket: everything the pipe gives a child
holds here too (the connection closing means ``stop``). The listener never imports locust.

Bounds: the listener exits after ``max_duration`` and stops its children (SIGTERM, then SIGKILL); each child's
``max_duration`` is clipped to the listener's time left. At most ``max_children`` children (and start lines being
read) at once; each start line must arrive whole within :data:`START_TIMEOUT`, read on a thread of its own so a
slow client holds up nobody else. A bad start line (or a child that cannot start) is answered an ``error`` line
on that connection only. A start line may not ask for a Locust master or name a locustfile without shipping its
source; a shipped locustfile lives in a working directory removed when its child exits. It binds 127.0.0.1
unless told otherwise. Whoever can connect runs the locustfile they send, as with a Locust worker and its
master: bind another address only on a network you trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chaoskit.errors import LoadError
from chaoskit.load.protocol import PROTOCOL_VERSION, ChildConfig, MessageType, ProtocolError, check_version, encode

START_LINE_LIMIT = 4 * 2**20
START_TIMEOUT = 10.0
"""The longest a connection may take to send its whole start line."""
STOP_GRACE = 5.0
"""After SIGTERM, how long a child has to exit before it is killed."""
_CHUNK = 65536


class StartError(Exception):
    """The start line of a connection is not one this listener can run."""


class ListenError(LoadError):
    """The listener cannot bind its address."""


def start_line(config: ChildConfig, locustfile_source: str | None = None) -> bytes:
    """The driver's first line on a connection to a listening child."""
    data: dict[str, Any] = {"v": PROTOCOL_VERSION, "config": json.loads(config.to_json())}
    if locustfile_source is not None and config.locustfile is not None:
        data["locustfile"] = {"name": Path(config.locustfile).name, "source": locustfile_source}
    return json.dumps(data).encode() + b"\n"


def parse_start(line: bytes, workdir: Path) -> ChildConfig:
    """The configuration a start line asks for; a shipped locustfile is written under ``workdir``.

    Raises :class:`StartError` for anything this listener will not run: not a start line, a configuration of
    the wrong shape, types or ranges, a Locust master (it would bind a port on this host), or a locustfile named
    without its source (a path on this host is never run).
    """
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise StartError(f"the first line must be a JSON start line: {exc}") from None
    try:
        check_version(data)
    except ProtocolError as exc:
        raise StartError(str(exc)) from None
    if not isinstance(data.get("config"), dict):
        raise StartError("the start line has no valid child configuration: config is not an object")
    try:
        config = ChildConfig.from_json(json.dumps(data["config"]))
    except ValueError as exc:
        raise StartError(f"the start line has no valid child configuration: {exc}") from None
    if config.master is not None:
        raise StartError("a listening load child does not run a Locust master (it would bind a port on this host)")
    shipped = data.get("locustfile")
    if shipped is None:
        if config.locustfile is not None:
            raise StartError("the start line names a locustfile without its source: a path on this host is not run")
        return config
    if not isinstance(shipped, dict) or not isinstance(shipped.get("source"), str):
        raise StartError('"locustfile" must be an object with its "source" as a string')
    name = shipped.get("name") or "locustfile.py"
    if not isinstance(name, str):
        raise StartError('"locustfile" "name" must be a string')
    name = Path(name).name or "locustfile.py"  # a file name, never a path
    path = workdir / (name if name.endswith(".py") else f"{name}.py")
    try:
        path.write_text(shipped["source"], encoding="utf-8")
    except (UnicodeError, ValueError) as exc:
        raise StartError(f"the shipped locustfile cannot be written: {exc}") from None
    return replace(config, locustfile=str(path))


def _read_line(conn: socket.socket, deadline: float) -> bytes:
    """The first line of a connection, whole by ``deadline``. Nothing after it may be consumed here, because
    the child reads the rest of the socket itself: each chunk is peeked, and only up to the newline taken."""
    line = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StartError(f"no whole start line within {START_TIMEOUT:g}s")
        conn.settimeout(left)
        try:
            chunk = conn.recv(_CHUNK, socket.MSG_PEEK)
        except TimeoutError:
            raise StartError(f"no whole start line within {START_TIMEOUT:g}s") from None
        if not chunk:
            raise StartError("the connection closed before its start line")
        end = chunk.find(b"\n")
        take = len(chunk) if end < 0 else end + 1
        line += conn.recv(take)  # the peeked bytes are there: this does not block
        if len(line) > START_LINE_LIMIT:
            raise StartError(f"the start line is longer than {START_LINE_LIMIT} bytes")
        if end >= 0:
            conn.settimeout(None)
            return bytes(line)


@dataclass
class _Run:
    proc: subprocess.Popen[bytes]
    workdir: Path


class _Listener:
    """The state one :func:`serve` shares with its handshake threads.

    ``slots`` holds one permit per child the listener may run: a connection takes one when it is accepted, and
    gives it back when its start fails or its child is reaped.
    """

    def __init__(self, tmp: Path, deadline: float, max_children: int, python: str) -> None:
        self.tmp = tmp
        self.deadline = deadline
        self.max_children = max_children
        self.python = python
        root = str(Path(__file__).resolve().parent.parent.parent)
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (root, self.env.get("PYTHONPATH")) if p)
        self.slots = threading.BoundedSemaphore(max_children)
        self.lock = threading.Lock()
        self.runs: list[_Run] = []
        self.closed = False

    def accept(self, conn: socket.socket) -> None:
        """Refuse ``conn`` when the listener is full, or start its handshake on a thread of its own (so a slow
        client never holds up another)."""
        if not self.slots.acquire(blocking=False):
            with conn:
                _answer_error(
                    conn, f"{self.max_children} load children already run here (--max-children {self.max_children})"
                )
            return
        threading.Thread(target=self._handshake, args=(conn,), name="load-listen-handshake", daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        """Read ``conn``'s start line and start its child, or answer it an error line and free its slot."""
        workdir: Path | None = None
        with conn:
            try:
                try:
                    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=self.tmp))
                except OSError as exc:
                    raise StartError(f"cannot make a working directory: {exc}") from None
                deadline = min(time.monotonic() + START_TIMEOUT, self.deadline)
                config = parse_start(_read_line(conn, deadline), workdir)
                # The child ends before the listener does, on its own terms (its last windows and `stopped` go out).
                left = max(self.deadline - time.monotonic(), 1.0)
                config = replace(config, max_duration=min(config.max_duration, left))
                with self.lock:
                    if self.closed:
                        raise StartError("the listener is shutting down")
                    # The socket is the child's stdin and stdout; the listener's copy closes after the handshake.
                    proc = subprocess.Popen(
                        [self.python, "-m", "chaoskit.load.child", "--config", config.to_json()],
                        stdin=conn.fileno(),
                        stdout=conn.fileno(),
                        cwd=workdir,
                        env=self.env,
                    )
                    self.runs.append(_Run(proc, workdir))
                return  # the run owns the slot and the working directory now: both freed when its child is reaped
            except Exception as exc:  # whatever this connection sent, the listener and its other children go on
                _answer_error(conn, str(exc) if isinstance(exc, StartError) else f"cannot start a load child: {exc!r}")
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        self.slots.release()

    def reap(self) -> None:
        """Forget the children that have exited, remove their working directories and free their slots."""
        with self.lock:
            done = [run for run in self.runs if run.proc.poll() is not None]
            self.runs = [run for run in self.runs if run not in done]
        for run in done:
            shutil.rmtree(run.workdir, ignore_errors=True)
            self.slots.release()

    def close(self) -> None:
        """Stop every child: SIGTERM, then SIGKILL for one still there after :data:`STOP_GRACE`."""
        with self.lock:
            self.closed = True
            runs = list(self.runs)
        for run in runs:
            with contextlib.suppress(ProcessLookupError):
                run.proc.terminate()
        end = time.monotonic() + STOP_GRACE
        for run in runs:
            try:
                run.proc.wait(max(end - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
        self.reap()


def _answer_error(conn: socket.socket, message: str) -> None:
    with contextlib.suppress(OSError):
        conn.settimeout(1.0)
        conn.sendall(encode(MessageType.ERROR, child=None, message=f"load child listener: {message}"))


def serve(
    host: str,
    port: int,
    *,
    max_duration: float,
    max_children: int | None = None,
    python: str = sys.executable,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Accept connections until ``max_duration`` has passed, one load child per connection.

    :param max_children: children (and start lines being read) at once; a connection past it is answered an
        error line. Default: the number of CPUs.
    :param on_ready: called with the bound address once connections are accepted (port 0 picks a free one).
    :raises ListenError: the address cannot be bound.
    """
    deadline = time.monotonic() + max_duration
    try:
        server = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="chaoskit-load-listen-") as tmp, server:
        listener = _Listener(Path(tmp), deadline, max_children or os.cpu_count() or 1, python)
        if on_ready is not None:
            on_ready(*server.getsockname()[:2])
        try:
            while (left := deadline - time.monotonic()) > 0:
                server.settimeout(min(left, 1.0))
                listener.reap()
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:  # out of file descriptors, a connection reset before accept: try again
                    time.sleep(0.1)
                    continue
                listener.accept(conn)
        finally:
            listener.close()
