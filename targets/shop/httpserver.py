"""A minimal HTTP/1.1 server on asyncio streams, with keep-alive, for JSON APIs (standard library only).

It understands what load generators and probes send: a request line, headers, and a body with
``Content-Length``. Chunked request bodies are refused (501). A handler maps a :class:`Request` to a
:class:`Response`; an exception in it becomes a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("shop.http")

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        body = json.dumps(self.payload).encode() + b"\n"
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        head = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "keep-alive" if keep_alive else "close",
            **self.headers,
        }
        lines = [f"HTTP/1.1 {self.status} {reason}", *(f"{k}: {v}" for k, v in head.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """Serves ``handler`` on ``host:port``; :meth:`stop` lets requests in flight finish (bounded)."""

    def __init__(self, handler: Handler, *, idle_timeout: float = 30.0) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self._connections: dict[asyncio.Task[None], bool] = {}  # task -> busy with a request
        self._server: asyncio.Server | None = None
        self._stopping = False

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._on_client, host, port, limit=MAX_HEAD)

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task, busy in list(self._connections.items()):
            if not busy:
                task.cancel()
        pending = list(self._connections)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = False
        try:
            await self._serve(task, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _serve(
        self, task: asyncio.Task[None], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while not self._stopping:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    head = await _read_head(reader)
                if head is None:
                    return
                self._connections[task] = True
                async with asyncio.timeout(self.idle_timeout):
                    request, keep_alive = await _parse(head, reader)
            except BadRequest as exc:
                writer.write(Response(exc.status, {"error": str(exc)}).encode(keep_alive=False))
                await writer.drain()
                return
            response = await self._handle(request)
            keep_alive = keep_alive and not self._stopping
            writer.write(response.encode(keep_alive))
            await writer.drain()
            self._connections[task] = False
            log.debug("%s %s -> %s", request.method, request.path, response.status)
            if not keep_alive:
                return

    async def _handle(self, request: Request) -> Response:
        try:
            return await self.handler(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("error handling %s %s", request.method, request.path)
            return Response(500, {"error": "internal error"})


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "incomplete request") from None
        return None  # the client closed an idle connection
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None


async def _parse(head: bytes, reader: asyncio.StreamReader) -> tuple[Request, bool]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(400, "malformed header")
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest(501, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if not 0 <= length <= MAX_BODY:
        raise BadRequest(413, f"the body may hold at most {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    url = urlsplit(target)
    query = dict(parse_qsl(url.query))
    return Request(method.upper(), unquote(url.path), query, headers, body), keep_alive
