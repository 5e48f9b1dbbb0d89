"""A small asyncio HTTP/1.1 server: keep-alive, Content-Length and chunked bodies, ``Expect: 100-continue``.

It is just enough for the Toxiproxy API; malformed requests get a 4xx (as Go's ``net/http`` answers them) and the
connection is closed, never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

log = logging.getLogger("chaoskit.proxy")

READ_TIMEOUT = 15.0  # Go's toxiproxy server: ReadTimeout 15 s
IDLE_TIMEOUT = 60.0
MAX_HEADER_BYTES = 1 << 20  # Go's DefaultMaxHeaderBytes
MAX_BODY_BYTES = 8 << 20


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def render(response: Response, *, head: bool = False, close: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    lines += [f"{k}: {v}" for k, v in response.headers]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    if response.status != 204 and response.status >= 200:
        lines.append(f"Content-Length: {len(response.body)}")
    if close:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return out if head or response.status == 204 else out + response.body


async def _read_line(reader: asyncio.StreamReader, budget: list[int]) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "431 Request Header Fields Too Large") from None
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise BadRequest(400, "400 Bad Request") from None
        raise EOFError from None
    budget[0] -= len(line)
    if budget[0] < 0:
        raise BadRequest(431, "431 Request Header Fields Too Large")
    return line.rstrip(b"\r\n")


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str]]:
    budget = [MAX_HEADER_BYTES]
    line = await _read_line(reader, budget)
    while line == b"":  # Go tolerates empty lines before a request
        line = await _read_line(reader, budget)
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadRequest(400, "400 Bad Request")
    method, target, version = parts
    if not method.isascii() or not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in method):
        raise BadRequest(400, "400 Bad Request")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(400, "400 Bad Request: unsupported protocol version")
    headers: dict[str, str] = {}
    while True:
        raw = await _read_line(reader, budget)
        if raw == b"":
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise BadRequest(400, "400 Bad Request: malformed MIME header line")
        key = name.lower()
        value = value.strip(" \t")
        if key in ("content-length", "host") and headers.get(key, value) != value:
            raise BadRequest(400, f"400 Bad Request: duplicate {name}")
        headers.setdefault(key, value)
    return method, target, version, headers


async def _read_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: str, headers: dict[str, str]
) -> bytes:
    te = headers.get("transfer-encoding")
    length_text = headers.get("content-length")
    if te is not None and length_text is not None:
        raise BadRequest(400, "400 Bad Request: both Transfer-Encoding and Content-Length")
    if te is None and length_text is None:
        return b""
    if headers.get("expect", "").lower() == "100-continue" and version == "HTTP/1.1":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if te is not None:
        if te.lower() != "chunked":
            raise BadRequest(400, "400 Bad Request: unsupported transfer encoding")
        return await _read_chunked(reader)
    assert length_text is not None
    if not length_text.isascii() or not length_text.isdigit():
        raise BadRequest(400, "400 Bad Request: bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, "413 Request Entity Too Large")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise EOFError from None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    budget = [MAX_HEADER_BYTES]
    while True:
        size_line = (await _read_line(reader, budget)).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest(400, "400 Bad Request: bad chunk size") from None
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise BadRequest(413, "413 Request Entity Too Large")
        if size == 0:
            while await _read_line(reader, budget) != b"":
                pass
            return bytes(body)
        try:
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest(400, "400 Bad Request: bad chunk")
        except asyncio.IncompleteReadError:
            raise EOFError from None


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    """Answer requests on one connection until it closes, times out or sends something unparseable."""
    try:
        first = True
        while True:
            try:
                timeout = READ_TIMEOUT if first else IDLE_TIMEOUT
                method, target, version, headers = await asyncio.wait_for(_read_head(reader), timeout)
                body = await asyncio.wait_for(_read_body(reader, writer, version, headers), READ_TIMEOUT)
            except BadRequest as exc:
                writer.write(
                    render(
                        Response(exc.status, exc.text.encode(), [("Content-Type", "text/plain; charset=utf-8")]),
                        close=True,
                    )
                )
                await writer.drain()
                return
            first = False
            connection = headers.get("connection", "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            try:
                response = await handler(Request(method, target, headers, body))
            except Exception as exc:  # a bug of ours: answer, log, keep serving
                log.exception("proxy API handler failed on %s %s", method, target)
                response = Response(500, f'{{"error":"internal error: {type(exc).__name__}","status":500}}\n'.encode())
            writer.write(render(response, head=method == "HEAD", close=close))
            await writer.drain()
            if close:
                return
    except (TimeoutError, EOFError, OSError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()
