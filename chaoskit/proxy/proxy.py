"""Proxies and their toxics, as Toxiproxy's ``proxy.go``, ``proxy_collection.go`` and ``toxic_collection.go``.

Everything here runs on the server's event loop thread; API handlers call it synchronously, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import socket
from dataclasses import dataclass
from typing import Any

from chaoskit.proxy.addresses import AddressError, bind_socket, dial_target, resolved_string
from chaoskit.proxy.lateness import Lateness
from chaoskit.proxy.links import ClientSide, Connection, ServerSide
from chaoskit.proxy.toxics import Toxic, float32

DIAL_TIMEOUT = 30.0
READ_BUFFER = 256 * 1024  # one read of the fast path; shared by all connections of a proxy


@dataclass
class ApiError(Exception):
    """An error the API answers with ``{"error": message, "status": status}``."""

    message: str
    status: int

    def __str__(self) -> str:
        return self.message


def bad_request(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


def missing_field(what: str) -> ApiError:
    return ApiError(f"missing required field: {what}", 400)


class ToxicCollection:
    """The two ordered toxic chains of one proxy, applied live to its connections."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.upstream: list[Toxic] = []
        self.downstream: list[Toxic] = []

    def chain(self, upstream: bool) -> list[Toxic]:
        return self.upstream if upstream else self.downstream

    def all(self) -> list[Toxic]:
        return [*self.upstream, *self.downstream]

    def find(self, name: str) -> Toxic | None:
        for toxic in self.all():
            if toxic.name == name:
                return toxic
        return None

    def add(self, toxic: Toxic) -> None:
        self.chain(toxic.upstream).append(toxic)
        for conn in self.proxy.live():
            conn.link(toxic.upstream).add_stage(toxic)

    def updated(self, toxic: Toxic) -> None:
        for conn in self.proxy.live():
            conn.link(toxic.upstream).update_stage(toxic)

    def remove(self, toxic: Toxic) -> None:
        self.chain(toxic.upstream).remove(toxic)
        for conn in self.proxy.live():
            conn.link(toxic.upstream).remove_stage(toxic)

    def reset(self) -> None:
        for toxic in self.all():
            self.remove(toxic)


class Proxy:
    """One named proxy: a listener (when enabled), its connections and its toxics."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, listen: str, upstream: str) -> None:
        self.loop = loop
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection(self)
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._dials: set[asyncio.Task[None]] = set()
        self.received = {"upstream": 0, "downstream": 0}
        self.sent = {"upstream": 0, "downstream": 0}
        self.lateness = {"upstream": Lateness(), "downstream": Lateness()}
        self.buffer = memoryview(bytearray(READ_BUFFER))
        self._trim: asyncio.TimerHandle | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic_json(t) for t in self.toxics.all()],
        }

    # ------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind ``listen`` and accept; the bound address becomes ``listen`` (raises ApiError 500)."""
        if self.enabled:
            return
        try:
            sock, bound = bind_socket(self.listen)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        self._server = await self.loop.create_server(lambda: ClientSide(self), sock=sock)
        self.listen = bound
        self.enabled = True

    def stop(self) -> None:
        """Close the listener and every connection (clients read EOF); toxics are kept."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._dials):
            task.cancel()
        for conn in list(self.connections):
            conn.close()

    def differs(self, listen: str, upstream: str) -> bool:
        """Go's ``Proxy.Differs``: the resolved new listen vs the stored string, and the upstream string."""
        try:
            resolved = resolved_string(listen)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        return self.listen != resolved or self.upstream != upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if self.differs(listen, upstream):
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()

    # ----------------------------------------------------------------------------------- connections

    def live(self) -> list[Connection]:
        return [c for c in self.connections if c.server is not None]

    def connection_opened(self, conn: Connection) -> None:
        self.connections.add(conn)
        task = self.loop.create_task(self._dial(conn))
        self._dials.add(task)
        task.add_done_callback(self._dials.discard)

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self.received["upstream"] += conn.up.bytes
        self.received["downstream"] += conn.down.bytes
        self.sent["upstream"] += conn.up.sent
        self.sent["downstream"] += conn.down.sent
        if not self.connections and self._trim is None:
            self._trim = self.loop.call_later(1.0, self._release_memory)

    def _release_memory(self) -> None:
        """Once idle, hand freed heap back to the OS (glibc keeps it otherwise; see docs/proxy.md, Memory)."""
        self._trim = None
        if not self.connections:
            gc.collect()  # connection objects in reference cycles (futures, exceptions) go now, not at gen 2
            release_memory()

    async def _dial(self, conn: Connection) -> None:
        try:
            host, port = dial_target(self.upstream)
            # asyncio.timeout, not wait_for: no second task per connection (fewer objects per wave of dials).
            async with asyncio.timeout(DIAL_TIMEOUT):
                transport, _ = await self.loop.create_connection(lambda: ServerSide(conn), host, port)
        except (TimeoutError, OSError, ValueError, OverflowError):  # AddressError and UnicodeError are ValueErrors
            conn.close()  # as Toxiproxy: the client connects, then reads EOF
            return
        except asyncio.CancelledError:
            conn.close()
            raise
        if conn.closed:
            transport.close()
            return
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.connected(transport)


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """``malloc_trim(0)`` where glibc provides it; a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def format_float32(value: float) -> str:
    """Go's JSON text for a float32: the shortest digits that round-trip, ``1`` for 1.0."""
    if value == 0:
        return "0"
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if float32(float(text)) == value:
            break
    number = float(text)
    if 1e-6 <= abs(number) < 1e21:
        if "e" in text:
            text = f"{number:f}".rstrip("0").rstrip(".")
        return text
    mantissa, _, exponent = f"{number:.{digits - 1}e}".partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sign, power = exponent[0], int(exponent[1:])
    # Go writes at least two exponent digits, then shortens e-07 to e-7.
    return f"{mantissa}e{sign}{power}" if sign == "-" else f"{mantissa}e+{power:02d}"


class Float32:
    """A toxicity value that the JSON encoder writes the way Go writes a float32."""

    def __init__(self, value: float) -> None:
        self.value = value


def toxic_json(toxic: Toxic) -> dict[str, Any]:
    return {
        "attributes": {key: toxic.attrs.get(key, 0) for key in toxic.type.attributes},
        "name": toxic.name,
        "type": toxic.type.name,
        "stream": toxic.stream,
        "toxicity": Float32(toxic.toxicity),
    }
