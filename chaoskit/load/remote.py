"""The driver's side of a load child on another host (``chaoskit load child --listen``, see
:mod:`chaoskit.load.listen`): a TCP connection that looks to the driver like a child process's pipes.

:class:`RemoteChild` has the part of ``asyncio.subprocess.Process`` the driver uses (``stdin``, ``stdout``,
``returncode``, ``wait()``, ``kill()``), so a remote child is read, commanded, stopped and reaped like a local
one: the same JSON lines, ``stop`` then closing its stdin, which half-closes the connection (end of file means
stop, and the child's last windows and ``stopped`` line still come back), and after the stop timeout
:meth:`RemoteChild.kill` aborts the connection, which the remote child takes as its driver gone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from chaoskit.errors import LoadError
from chaoskit.load.listen import start_line
from chaoskit.load.protocol import ChildConfig

STREAM_LIMIT = 2**24
"""Longest line read from a remote child (asyncio's 64 KiB default is too small for a window with many names)."""
_EOF_POLL = 0.02


class RemoteStdin:
    """The sending half of the connection, as a child's stdin: :meth:`close` half-closes (end of file for the
    child) and leaves the receiving half open for what the child still sends."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._closed = False

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def is_closing(self) -> bool:
        return self._closed or self.writer.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        self._closed = True
        try:
            self.writer.write_eof()
        except OSError:  # the connection is gone already
            self.writer.transport.abort()


class RemoteChild:
    """A load child behind a TCP connection; ``address`` is its listener's (a remote child has no local pid)."""

    def __init__(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.address = address
        self.stdout: asyncio.StreamReader | None = reader
        self.stdin: RemoteStdin | None = RemoteStdin(writer)
        self.returncode: int | None = None
        self._writer = writer

    async def wait(self) -> int:
        """Until the remote child has closed the connection (it exited), or :meth:`kill`; 0, or -9 after it."""
        assert self.stdout is not None
        while self.returncode is None and not self.stdout.at_eof() and not self._writer.transport.is_closing():
            await asyncio.sleep(_EOF_POLL)
        if self.returncode is None:
            self.returncode = 0
        self._writer.transport.close()
        return self.returncode

    def kill(self) -> None:
        """Drop the connection: the remote child stops as when its driver dies."""
        if self.returncode is None:
            self.returncode = -9
            self._writer.transport.abort()


def parse_address(address: str) -> tuple[str, int]:
    from chaoskit.experiment.model import parse_host_port

    try:
        return parse_host_port(address)
    except ValueError as exc:
        raise LoadError(f"remote load child: {exc}") from None


async def connect(address: str, config: ChildConfig, *, timeout: float = 10.0) -> RemoteChild:
    """Connect to a listening load child and start it with ``config`` (its locustfile's source goes along).

    :raises LoadError: the address is not ``HOST:PORT``, the locustfile cannot be read, or connecting and
        sending the start line fail or take longer than ``timeout`` (the connection is closed then).
    """
    host, port = parse_address(address)
    source = None
    if config.locustfile is not None:
        try:
            source = Path(config.locustfile).read_text()
        except OSError as exc:
            raise LoadError(f"cannot read {config.locustfile} to send to {address}: {exc}") from None
    line = start_line(config, source)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
            writer.write(line)
            await writer.drain()
    except (OSError, TimeoutError) as exc:
        if writer is not None:
            writer.transport.abort()
        what = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise LoadError(f"cannot reach the load child listening on {address}: {what}") from None
    return RemoteChild(address, reader, writer)
