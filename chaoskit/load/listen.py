"""``chaoskit load child --listen HOST:PORT``: load children for a driver on another host, over TCP.

The same child protocol as on a pipe, on a socket: the driver connects and sends one *start* line, then commands;
the child sends ``hello``, windows and ``stopped``. The start line carries the child's configuration and, for a
locustfile, its source (as Locust's master ships it to ``-f -`` workers, so helper modules of its own are not
shipped)::

    {"v": 1, "config": {...ChildConfig...}, "locustfile": {"name": "locustfile.py", "source": "..."}}

For each connection the listener starts a fresh ``python -m chaoskit.load.child`` (Locust patches its whole
process, so one run per process) whose stdin and stdout *are* the socket: everything the pipe gives a child
holds here too (the connection closing means ``stop``). The listener never imports locust.

Bounds: the listener exits after ``max_duration`` (and its children with it: they die with their parent); each
child keeps its own ``max_duration``. It binds 127.0.0.1 unless told otherwise. Whoever can connect runs the
locustfile they send, as with a Locust worker and its master: bind another address only on a network you trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from chaoskit.load.protocol import PROTOCOL_VERSION, ChildConfig, MessageType, encode

START_LINE_LIMIT = 4 * 2**20
START_TIMEOUT = 10.0


class StartError(Exception):
    """The start line of a connection is not one this listener can run."""


def start_line(config: ChildConfig, locustfile_source: str | None = None) -> bytes:
    """The driver's first line on a connection to a listening child."""
    data: dict[str, Any] = {"v": PROTOCOL_VERSION, "config": json.loads(config.to_json())}
    if locustfile_source is not None and config.locustfile is not None:
        data["locustfile"] = {"name": Path(config.locustfile).name, "source": locustfile_source}
    return json.dumps(data).encode() + b"\n"


def parse_start(line: bytes, workdir: Path) -> ChildConfig:
    """The configuration a start line asks for; a shipped locustfile is written under ``workdir``."""
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise StartError(f"the first line must be a JSON start line: {exc}") from None
    if data.get("v") != PROTOCOL_VERSION:
        raise StartError(
            f"load protocol version {data.get('v')!r} is not {PROTOCOL_VERSION}: driver and child come from "
            "different chaoskit versions"
        )
    try:
        config = ChildConfig.from_json(json.dumps(data["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StartError(f"the start line has no valid child configuration: {exc!r}") from None
    shipped = data.get("locustfile")
    if shipped is not None:
        name = Path(str(shipped.get("name") or "locustfile.py")).name  # a file name, never a path
        path = workdir / (name if name.endswith(".py") else f"{name}.py")
        path.write_text(str(shipped.get("source", "")))
        config = replace(config, locustfile=str(path))
    return config


def _read_line(conn: socket.socket) -> bytes:
    """The first line of a connection, read one byte at a time: nothing after it may be consumed here, because
    the child reads the rest of the socket itself."""
    conn.settimeout(START_TIMEOUT)
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            raise StartError("the connection closed before its start line")
        line += byte
        if len(line) > START_LINE_LIMIT:
            raise StartError(f"the start line is longer than {START_LINE_LIMIT} bytes")
    conn.settimeout(None)
    return bytes(line)


def serve(
    host: str,
    port: int,
    *,
    max_duration: float,
    python: str = sys.executable,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Accept connections until ``max_duration`` has passed, one load child per connection.

    :param on_ready: called with the bound address once connections are accepted (port 0 picks a free one).
    """
    deadline = time.monotonic() + max_duration
    children: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory(prefix="chaoskit-load-listen-") as tmp,
        socket.create_server((host, port), reuse_port=False) as server,
    ):
        if on_ready is not None:
            on_ready(*server.getsockname()[:2])
        try:
            serial = 0
            while (left := deadline - time.monotonic()) > 0:
                server.settimeout(min(left, 1.0))
                children = [c for c in children if c.poll() is None]
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                serial += 1
                with conn:
                    child = _start_child(conn, Path(tmp), serial, python)
                if child is not None:
                    children.append(child)
        finally:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.terminate()
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(5)


def _start_child(conn: socket.socket, tmp: Path, serial: int, python: str) -> subprocess.Popen[bytes] | None:
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f"run-{serial}-", dir=tmp))
        config = parse_start(_read_line(conn), workdir)
    except (StartError, OSError) as exc:
        with contextlib.suppress(OSError):
            conn.sendall(encode(MessageType.ERROR, child=None, message=f"load child listener: {exc}"))
        return None
    conn.settimeout(None)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    # The socket is the child's stdin and stdout; the listener's copy closes when this function returns.
    return subprocess.Popen(
        [python, "-m", "chaoskit.load.child", "--config", config.to_json()],
        stdin=conn.fileno(),
        stdout=conn.fileno(),
        cwd=workdir,
        env=env,
    )
