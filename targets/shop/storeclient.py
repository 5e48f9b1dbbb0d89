"""The API's client for the store: a small connection pool, a timeout per attempt, and bounded retries.

A command that may have reached the store (``DECR``) is never retried after it was sent, because the store may
have applied it even though the answer never came back; reads and ``PING`` are retried up to ``retries`` times.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("shop.api")


class StoreUnavailable(Exception):
    """The store did not answer in time, refused the connection, or hung up."""


class StoreReply(Exception):
    """The store answered with ``ERR``."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class StoreClient:
    """Talks to the store at ``host:port``; every public method raises :class:`StoreUnavailable` on failure."""

    def __init__(self, host: str, port: int, *, timeout: float, retries: int, pool_size: int) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.pool_size = pool_size
        self._idle: list[_Connection] = []
        self._reachable = True

    # ------------------------------------------------------------------------------------------ commands

    async def ping(self) -> None:
        """One attempt, no retries: health checks report what the store does right now."""
        answer = await self.call("PING", retries=0)
        if answer != "PONG":
            raise StoreUnavailable(f"unexpected answer to PING: {answer[:60]!r}")

    async def get(self, key: str) -> str | None:
        answer = await self.call(f"GET {key}")
        return None if answer == "NIL" else _ok(answer)

    async def mget(self, keys: list[str]) -> list[str | None]:
        values: Any = json.loads(_ok(await self.call("MGET " + " ".join(keys))))
        return list(values)

    async def keys(self, prefix: str) -> list[str]:
        found: Any = json.loads(_ok(await self.call(f"KEYS {prefix}")))
        return list(found)

    async def decr(self, key: str, amount: int) -> int:
        """Take ``amount`` off ``key``; :class:`StoreReply` ``insufficient N`` when fewer than ``amount`` are left."""
        return int(_ok(await self.call(f"DECR {key} {amount}", idempotent=False)))

    # --------------------------------------------------------------------------------------- transport

    async def call(self, command: str, *, idempotent: bool = True, retries: int | None = None) -> str:
        """Send one command line and return the answer line, retrying as configured."""
        attempts = 1 + (self.retries if retries is None else retries)
        reason = "no attempt made"
        for _ in range(attempts):
            sent = False
            conn: _Connection | None = None
            try:
                async with asyncio.timeout(self.timeout):
                    conn = await self._acquire()
                    conn.writer.write(command.encode() + b"\n")
                    sent = True
                    await conn.writer.drain()
                    line = await conn.reader.readline()
                if not line.endswith(b"\n"):
                    raise ConnectionResetError("the store hung up")
            except TimeoutError:
                reason = f"no answer within {self.timeout:g}s"
            except (OSError, asyncio.IncompleteReadError) as exc:
                reason = _describe(exc)
            else:
                self._release(conn)
                self._mark(reachable=True)
                return line.decode().rstrip("\n")
            if conn is not None:
                conn.close()  # a late answer must never be read as the answer to the next command
            if sent and not idempotent:
                break
        self._mark(reachable=False, reason=reason)
        raise StoreUnavailable(f"store unavailable: {reason}")

    async def _acquire(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    def _release(self, conn: _Connection | None) -> None:
        if conn is None:
            return
        if len(self._idle) < self.pool_size and conn.usable():
            self._idle.append(conn)
        else:
            conn.close()

    def _mark(self, *, reachable: bool, reason: str = "") -> None:
        if reachable and not self._reachable:
            log.info("store at %s:%s answers again", self.host, self.port)
        elif not reachable and self._reachable:
            log.warning("store at %s:%s unavailable: %s", self.host, self.port, reason)
        self._reachable = reachable

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def _ok(answer: str) -> str:
    if answer == "OK":
        return ""
    if answer.startswith("OK "):
        return answer[3:]
    raise StoreReply(answer.removeprefix("ERR ") if answer.startswith("ERR ") else answer)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionResetError | BrokenPipeError):
        return "the store hung up"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
