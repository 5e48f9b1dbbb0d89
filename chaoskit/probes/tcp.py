"""The ``tcp`` probe: a connection opens within the timeout, optionally with a send/expect exchange."""

from __future__ import annotations

import asyncio
import time

from chaoskit.experiment.model import parse_host_port
from chaoskit.probes._common import describe_error, seconds
from chaoskit.probes.specs import TcpProbeSpec
from chaoskit.registry import Observation, Probe

MAX_ANSWER = 64 * 1024
"""Bytes read while waiting for ``expect``."""


class TcpProbe(Probe):
    """Connect to ``host:port``; with ``send``/``expect``, also exchange a line of protocol."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 5.0,
        send: str | bytes | None = None,
        expect: str | bytes | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.send = send.encode() if isinstance(send, str) else send
        self.expect = expect.encode() if isinstance(expect, str) else expect

    @classmethod
    def from_spec(cls, spec: TcpProbeSpec) -> TcpProbe:
        host, port = parse_host_port(spec.address)
        return cls(host, port, timeout=spec.timeout, send=spec.send, expect=spec.expect)

    async def observe(self) -> Observation:
        started = time.perf_counter()
        stage = "connect"
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    stage = "answer"
                    detail = await self._exchange(reader, writer)
                finally:
                    writer.close()
            # Closing is not part of the check; a peer that never acknowledges it must not fail the probe.
        except TimeoutError:
            what = "connect" if stage == "connect" else f"an answer holding {self._expected()}"
            return Observation(
                False,
                time.perf_counter() - started,
                f"timed out after {seconds(self.timeout)} waiting for {what}",
            )
        except (OSError, asyncio.IncompleteReadError) as exc:
            return Observation(False, time.perf_counter() - started, describe_error(exc))
        latency = time.perf_counter() - started
        return Observation(detail is None, latency, detail or "connected")

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
        """None when the exchange went as expected, else why not."""
        if self.send:
            writer.write(self.send)
            await writer.drain()
        if self.expect is None:
            return None
        answer = bytearray()
        while self.expect not in answer:
            if len(answer) >= MAX_ANSWER:
                return f"no {self._expected()} in the first {MAX_ANSWER} bytes"
            chunk = await reader.read(MAX_ANSWER)
            if not chunk:
                got = bytes(answer[:80]).decode("utf-8", "replace")
                return f"connection closed without {self._expected()} (got {got!r})"
            answer += chunk
        return None

    def _expected(self) -> str:
        return repr((self.expect or b"").decode("utf-8", "replace"))
