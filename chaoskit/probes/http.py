"""The ``http`` probe: one HTTP/1.1 request over asyncio streams, judged by status, body and latency.

Each call opens a fresh connection (``Connection: close``), so a probe sees what a new client would see: a
refused port, a hung accept or a slow TLS handshake all count. ``https://`` URLs use the system's trust store
unless ``verify: false``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaoskit.errors import ProbeError
from chaoskit.probes._common import describe_error, seconds
from chaoskit.probes.specs import HttpProbeSpec, check_header, parse_url
from chaoskit.registry import Observation, Probe

MAX_BODY = 1 << 20
"""Bytes of the response body kept for ``contains``; the rest is not read."""
_MAX_HEAD = 64 * 1024
_DETAIL_BODY = 120


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpProbe(Probe):
    """One HTTP request per :meth:`observe`. Raises :class:`ProbeError` for a URL it cannot request."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        status: int | Sequence[int] | None = None,
        contains: str | None = None,
        max_latency: float | None = None,
        timeout: float = 5.0,
        verify: bool = True,
        name: str | None = None,
    ) -> None:
        try:
            self.url = parse_url(url)
            for key, value in (headers or {}).items():
                check_header(key, value)
        except ValueError as exc:
            raise ProbeError(str(exc), probe=name) from None
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else body
        self.status = frozenset([status] if isinstance(status, int) else status) if status is not None else None
        self.contains = contains.encode() if contains is not None else None
        self.max_latency = max_latency
        self.timeout = timeout
        self._ssl = _ssl_context(verify) if self.url.tls else None

    @classmethod
    def from_spec(cls, spec: HttpProbeSpec) -> HttpProbe:
        return cls(
            spec.url,
            method=spec.method,
            headers=spec.headers,
            body=spec.body,
            status=spec.status,
            contains=spec.contains,
            max_latency=spec.max_latency,
            timeout=spec.timeout,
            verify=spec.verify,
            name=spec.name,
        )

    async def observe(self) -> Observation:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._request()
        except TimeoutError:
            return Observation(False, time.perf_counter() - started, f"timed out after {seconds(self.timeout)}")
        except ssl.SSLError as exc:
            return Observation(False, time.perf_counter() - started, f"TLS error: {exc.reason or exc}")
        except asyncio.IncompleteReadError:
            return Observation(False, time.perf_counter() - started, "connection closed before a full response")
        except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
            return Observation(False, time.perf_counter() - started, describe_error(exc))
        latency = time.perf_counter() - started
        return self._judged(response, latency)

    def _judged(self, response: Response, latency: float) -> Observation:
        detail = f"status {response.status}"
        if self.status is not None:
            expected = self.status
            if response.status not in expected:
                want = " or ".join(str(s) for s in sorted(expected))
                return Observation(False, latency, f"{detail} (expected {want}){_snippet(response.body)}")
        elif not 200 <= response.status < 400:
            return Observation(False, latency, f"{detail} (expected 2xx or 3xx){_snippet(response.body)}")
        if self.contains is not None and self.contains not in response.body:
            return Observation(False, latency, f"{detail}, body lacks {self.contains.decode()!r}")
        if self.max_latency is not None and latency > self.max_latency:
            return Observation(
                False,
                latency,
                f"{detail} in {seconds(latency)}, slower than max_latency {seconds(self.max_latency)}",
            )
        return Observation(True, latency, detail)

    async def _request(self) -> Response:
        url = self.url
        reader, writer = await asyncio.open_connection(
            url.host,
            url.port,
            ssl=self._ssl,
            server_hostname=url.host if self._ssl else None,
            limit=_MAX_HEAD,
        )
        try:
            writer.write(self._request_bytes())
            await writer.drain()
            return await _read_response(reader, self.method)
        finally:
            writer.close()  # not awaited: a peer slow to close must not turn a full answer into a timeout

    def _request_bytes(self) -> bytes:
        head = {
            "Host": self.url.host_header,
            "User-Agent": "chaoskit-probe",
            "Accept": "*/*",
            "Connection": "close",
        }
        if self.body is not None:
            head["Content-Length"] = str(len(self.body))
        given = {k.lower() for k in self.headers}
        lines = [f"{self.method} {self.url.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in head.items() if k.lower() not in given]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (self.body or b"")


async def _read_response(reader: asyncio.StreamReader, method: str) -> Response:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
        status = int(parts[1])
        if not 100 <= status < 200 or status == 101:
            break  # 1xx interim responses are followed by the real one
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = await reader.readexactly(min(length, MAX_BODY))
    else:
        body = await _read_to_eof(reader)
    return Response(status, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while len(body) < MAX_BODY:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        body += await reader.readexactly(min(size, MAX_BODY - len(body)))
        if len(body) >= MAX_BODY:
            break
        await reader.readexactly(2)
    return bytes(body)


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while len(body) < MAX_BODY and (chunk := await reader.read(MAX_BODY - len(body))):
        body += chunk
    return bytes(body)


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _snippet(body: bytes) -> str:
    text = " ".join(body[: _DETAIL_BODY * 4].decode("utf-8", "replace").split())
    if not text:
        return ""
    return f": {text[:_DETAIL_BODY]}…" if len(text) > _DETAIL_BODY else f": {text}"
