"""Fixtures for the proxy tests: an embedded server on its own thread, an echo upstream, and raw API calls."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chaoskit.proxy.server import ServerThread


class EchoServer:
    """A threaded TCP echo server on 127.0.0.1 (the upstream of the proxies under test)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stopped = True
        self.sock.close()
        with self._lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.close()


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Raw HTTP calls to the API under test."""

    def __init__(self, url: str) -> None:
        self.url = url
        host_port = url.removeprefix("http://")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            conn.request(method, path, body=payload, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def proxy(self, name: str, upstream: str, **extra: Any) -> dict[str, Any]:
        reply = self("POST", "/proxies", {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **extra})
        assert reply.status == 201, reply.body
        data: dict[str, Any] = reply.json()
        return data


@pytest.fixture
def server() -> Iterator[ServerThread]:
    thread = ServerThread("127.0.0.1", 0)
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def api(server: ServerThread) -> Api:
    return Api(server.url)


@pytest.fixture
def metrics_server() -> Iterator[ServerThread]:
    """An embedded server that serves ``GET /metrics``."""
    thread = ServerThread(metrics=True)
    thread.start()
    yield thread
    thread.stop()


def wait_closed(server: ServerThread, proxy: str, timeout: float = 5.0) -> None:
    """Wait (at most ``timeout`` s) until ``proxy`` has no connection left, e.g. for its byte counters, which a
    connection adds to when it ends."""
    deadline = time.monotonic() + timeout
    while server.server.proxies[proxy].connections and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    srv = EchoServer()
    yield srv
    srv.close()


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            break
        out += data
    return bytes(out)
