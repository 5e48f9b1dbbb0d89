"""The driver's side of a load child on another host (``chaoskit load child --listen``, see
:mod:`chaoskit.load.listen`): a TCP connection that looks to the driver like a child process's pipes.

:class:`RemoteChild` has the part of ``asyncio.subprocess.Process`` the driver uses (``stdin``, ``stdout``,
``returncode``, ``wait()``, ``kill()``), so a remote child is read, commanded, stopped and reaped like a local
one: the same JSON lines, ``stop`` then closing the connection (end of file means stop), and after the stop
timeout :meth:`RemoteChild.kill` aborts the connection, which the remote child takes as its driver gone.
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


class RemoteChild:
    """A load child behind a TCP connection (``pid`` is its listener's address, for messages only)."""

    def __init__(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.address = address
        self.stdout: asyncio.StreamReader | None = reader
        self.stdin: asyncio.StreamWriter | None = writer
        self.returncode: int | None = None

    async def wait(self) -> int:
        """Until the remote child has closed the connection (it exited); 0, or -9 after :meth:`kill`."""
        assert self.stdout is not None and self.stdin is not None
        while not self.stdout.at_eof():
            await asyncio.sleep(_EOF_POLL)
        if self.returncode is None:
            self.returncode = 0
            self.stdin.close()
        return self.returncode

    def kill(self) -> None:
        """Drop the connection: the remote child stops as when its driver dies."""
        if self.returncode is None and self.stdin is not None:
            self.returncode = -9
            self.stdin.transport.abort()


def parse_address(address: str) -> tuple[str, int]:
    from chaoskit.experiment.model import parse_host_port

    try:
        return parse_host_port(address)
    except ValueError as exc:
        raise LoadError(f"remote load child: {exc}") from None


async def connect(address: str, config: ChildConfig, *, timeout: float = 10.0) -> RemoteChild:
    """Connect to a listening load child and start it with ``config`` (its locustfile's source goes along)."""
    host, port = parse_address(address)
    source = None
    if config.locustfile is not None:
        try:
            source = Path(config.locustfile).read_text()
        except OSError as exc:
            raise LoadError(f"cannot read {config.locustfile} to send to {address}: {exc}") from None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
    except (OSError, TimeoutError) as exc:
        raise LoadError(f"cannot reach the load child listening on {address}: {exc or 'timed out'}") from None
    writer.write(start_line(config, source))
    await writer.drain()
    return RemoteChild(address, reader, writer)
