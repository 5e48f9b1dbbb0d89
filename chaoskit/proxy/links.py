"""The data path of one proxied connection: two links, each a fast path or a pipeline of toxic stages.

A :class:`Link` carries one direction (``upstream``: client -> server, ``downstream``: server -> client). While
its direction has no toxic it relays each read straight into the other socket (the fast path, with
transport flow control as backpressure). Once a toxic applies, data goes through a pipeline, as in Toxiproxy's
``link.go``::

    read -> head Pipe -> Stage(toxic 1) -> Pipe -> Stage(toxic 2) -> ... -> tail Pipe -> writer -> dest

Pipes are bounded (1 chunk; 1024 in front of a latency stage) so a stalled stage stops the reader and TCP
backpressure reaches the sender. Stages are interrupted (re-drawing toxicity, flushing what they hold) when their
toxic is updated or a neighbour is added or removed; a removed stage becomes a pass-through and unlinks itself once
idle, and a link with no stage left goes back to the fast path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from chaoskit.proxy.stages import Chunk, Pipe, Stage, wake
from chaoskit.proxy.toxics import Toxic

if TYPE_CHECKING:
    from chaoskit.proxy.proxy import Proxy

CHUNK = 32 * 1024  # Go's io.Copy buffer: the largest chunk a toxic sees
_PAUSE_DEST = 1  # the destination's write buffer is full (fast path)
_PAUSE_PIPE = 2  # the pipeline's head is full


class Link:
    """One direction of one connection."""

    __slots__ = (
        "_drain", "bytes", "conn", "dest", "dest_fd", "dest_paused", "done", "eof", "head", "loop", "other", "paused",
        "sent", "source", "stages", "tail", "upstream", "writer", "writer_idle",
    )  # fmt: skip

    def __init__(self, conn: Connection, upstream: bool) -> None:
        self.conn = conn
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.upstream = upstream
        self.source: asyncio.Transport = None  # type: ignore[assignment]  # set by Connection.connected
        self.dest: asyncio.Transport = None  # type: ignore[assignment]
        self.dest_fd = -1
        self.other: Link = None  # type: ignore[assignment]
        self.stages: list[Stage] = []
        self.head: Pipe | None = None  # None: the fast path
        self.tail: Pipe | None = None
        self.writer: asyncio.Task[None] | None = None
        self.writer_idle = False
        self.dest_paused = False
        self._drain: asyncio.Future[None] | None = None
        self.paused = 0
        self.eof = False
        self.done = False
        self.bytes = 0  # received from the source
        self.sent = 0  # handed to the destination (less than ``bytes`` when a toxic drops or holds data)

    # ------------------------------------------------------------------------------------------ data in

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        head = self.head
        if head is None:
            self.sent += len(data)
            self.dest.write(data)
            return
        ts = self.loop.time()
        if len(data) <= CHUNK:
            head.push(Chunk(data, ts))
        else:
            view = memoryview(data)
            for i in range(0, len(data), CHUNK):
                head.push(Chunk(bytes(view[i : i + CHUNK]), ts))
        if head.full():
            self._pause(_PAUSE_PIPE)

    def feed_eof(self) -> None:
        if self.eof:
            return
        self.eof = True
        if self.head is None:
            self.finish()
        else:
            self.head.close()

    def finish(self) -> None:
        """This direction is over: close its destination, and let the other direction flush and end."""
        if self.done:
            return
        self.done = True
        self.eof = True
        for stage in self.stages:
            stage.dead = True
            if stage.task is not None:
                stage.task.cancel()
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        self.dest.close()
        self.other.feed_eof()

    # ----------------------------------------------------------------------------------- flow control

    def _pause(self, reason: int) -> None:
        if not self.paused and not self.source.is_closing():
            self.source.pause_reading()
        self.paused |= reason

    def _resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and not self.source.is_closing():
                self.source.resume_reading()

    def _on_head_space(self) -> None:
        self._resume(_PAUSE_PIPE)

    def dest_pause(self) -> None:
        self.dest_paused = True
        if self.head is None:
            self._pause(_PAUSE_DEST)

    def dest_resume(self) -> None:
        self.dest_paused = False
        self._resume(_PAUSE_DEST)
        wake(self._drain)

    # -------------------------------------------------------------------------------------- pipeline

    def _set_head(self, pipe: Pipe) -> None:
        if self.head is not None:
            self.head.on_space = None
        self.head = pipe
        pipe.on_space = self._on_head_space
        if not pipe.full():
            self._resume(_PAUSE_PIPE)

    def _start_pipeline(self) -> None:
        tail = Pipe(1)
        self.tail = tail
        self._set_head(tail)
        self._resume(_PAUSE_DEST)  # the writer waits for the destination from now on
        self.writer = self.loop.create_task(self._write(tail))

    async def _write(self, tail: Pipe) -> None:
        while True:
            if tail.items:
                chunk = tail.pop()
            elif tail.closed:
                self.finish()
                return
            elif not self.stages and self.head is tail and not self.eof:
                self._to_fast()
                return
            else:
                fut = self.loop.create_future()
                tail.getter = fut
                self.writer_idle = True
                try:
                    await fut
                finally:
                    self.writer_idle = False
                    tail.getter = None
                continue
            if not self.dest.is_closing():
                self.sent += len(chunk.data)
                self.dest.write(chunk.data)
            while self.dest_paused and not self.dest.is_closing():
                self._drain = self.loop.create_future()
                try:
                    await self._drain
                finally:
                    self._drain = None

    def _to_fast(self) -> None:
        """Back to relaying in ``data_received``: called by the writer once no stage is left and all is sent."""
        assert self.tail is not None
        self.tail.on_space = None
        self.writer = self.tail = self.head = None
        self._resume(_PAUSE_PIPE)
        if self.dest_paused:
            self._pause(_PAUSE_DEST)

    def add_stage(self, toxic: Toxic) -> None:
        if self.done:
            return
        if self.head is None:
            self._start_pipeline()
        assert self.tail is not None
        pipe = Pipe(toxic.type.buffer)
        stage = Stage(self, toxic, pipe, self.tail)
        if self.stages:
            prev = self.stages[-1]
            prev.output = pipe
            prev.rewired()
            prev.interrupt()
        else:
            self._set_head(pipe)
        self.stages.append(stage)
        stage.start()

    def _find(self, toxic: Toxic) -> Stage | None:
        for stage in self.stages:
            if stage.toxic is toxic:
                return stage
        return None

    def update_stage(self, toxic: Toxic) -> None:
        stage = self._find(toxic)
        if stage is not None:
            stage.interrupt()

    def remove_stage(self, toxic: Toxic) -> None:
        stage = self._find(toxic)
        if stage is None:
            return
        index = self.stages.index(stage)
        if toxic.type.name == "timeout":
            # Toxiproxy's timeout cleanup closes the link, even where toxicity made it a pass-through.
            self.stages.pop(index)
            if stage.task is not None:
                stage.task.cancel()
            stage.close()
            return
        stage.toxic = None
        stage.removed = True
        if stage.waiting and not stage.input.items and not stage.input.closed and not stage.held:
            self.unlink(stage)
        else:
            stage.interrupt()
        if index > 0 and index - 1 < len(self.stages):
            self.stages[index - 1].interrupt()

    def unlink(self, stage: Stage) -> None:
        """Drop an idle, removed stage from the chain, joining its neighbours."""
        index = self.stages.index(stage)
        self.stages.pop(index)
        stage.dead = True
        if stage.task is not None and stage.task is not asyncio.current_task():
            stage.task.cancel()
        if index == 0:
            self._set_head(stage.output)
        else:
            prev = self.stages[index - 1]
            prev.output = stage.output
            prev.rewired()
        if not self.stages and self.tail is not None:
            wake(self.tail.getter)  # an idle writer re-checks and hands over to the fast path


class Connection:
    """A client connection and its upstream connection, joined by two links."""

    __slots__ = ("client", "closed", "down", "loop", "lost", "proxy", "server", "up")

    def __init__(self, proxy: Proxy, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.loop: asyncio.AbstractEventLoop = proxy.loop
        self.client = client
        self.server: asyncio.Transport | None = None
        self.up = Link(self, upstream=True)
        self.down = Link(self, upstream=False)
        self.up.other, self.down.other = self.down, self.up
        self.lost = 0
        self.closed = False

    def connected(self, server: asyncio.Transport) -> None:
        """The upstream is dialled: wire the links and attach the proxy's current toxics."""
        self.server = server
        self.up.source = self.down.dest = self.client
        self.up.dest = self.down.source = server
        self.up.dest_fd = server.get_extra_info("socket").fileno()
        self.down.dest_fd = self.client.get_extra_info("socket").fileno()
        for link in (self.up, self.down):
            chain = self.proxy.toxics.chain(link.upstream)
            if any(t.type.name == "reset_peer" for t in chain):
                # Toxiproxy sets SO_LINGER 0 on the link's source only for a reset_peer present at accept time.
                set_linger_zero(link.source)
            for toxic in chain:
                link.add_stage(toxic)
        self.client.resume_reading()
        server.resume_reading()

    def transport_lost(self, transport: asyncio.BaseTransport) -> None:
        self.lost += 1
        if self.server is None:
            self.close()
            return
        (self.up if transport is self.client else self.down).feed_eof()
        if self.lost >= 2:
            self.close()
            self._unlink()

    def _unlink(self) -> None:
        """Both sockets are gone: break the reference cycles so the objects go at once, not at a full GC."""
        for link in (self.up, self.down):
            for stage in link.stages:
                stage.held.clear()
            link.stages = []
            if link.head is not None:
                link.head.on_space = None
            link.head = link.tail = None
            link.writer = None

    def close(self) -> None:
        """Close both sockets now (proxy disabled, deleted or moved)."""
        if not self.closed:
            self.closed = True
            self.proxy.connection_closed(self)
        for link in (self.up, self.down):
            link.done = link.eof = True
            for stage in link.stages:
                stage.dead = True
                if stage.task is not None:
                    stage.task.cancel()
            if link.writer is not None:
                link.writer.cancel()
        self.client.close()
        if self.server is not None:
            self.server.close()

    def link(self, upstream: bool) -> Link:
        return self.up if upstream else self.down


def set_linger_zero(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _repause_until_wired(transport: asyncio.Transport, wired: Callable[[], bool]) -> None:
    """Make ``pause_reading()`` from ``connection_made`` stick on Python 3.11.0-3.11.2 (Debian bookworm's
    python3), whose socket transport adds its reader right after ``connection_made`` even when paused; bytes
    read before the links are wired would find no destination."""

    def repause() -> None:
        if not wired() and not transport.is_closing():
            transport.resume_reading()
            transport.pause_reading()

    asyncio.get_running_loop().call_soon(repause)


class _Side(asyncio.BufferedProtocol):
    """Reads into the proxy's shared buffer and relays it (fast path) or feeds the link's pipeline.

    One buffer serves every connection of the event loop: ``buffer_updated`` consumes it before returning. On
    the fast path the bytes go straight to the destination socket while its transport has nothing buffered, so
    nothing is allocated or copied in Python unless the socket is full.
    """

    __slots__ = ("buffer", "link")

    link: Link
    buffer: memoryview

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        link = self.link
        if link.head is not None:
            link.feed(bytes(self.buffer[:nbytes]))
            return
        link.bytes += nbytes
        dest = link.dest
        if dest.is_closing():
            return
        link.sent += nbytes
        sent = 0
        if not dest.get_write_buffer_size():
            try:
                sent = os.write(link.dest_fd, self.buffer[:nbytes])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass  # the transport meets the same error on its next write and closes itself
        if sent < nbytes:
            dest.write(bytes(self.buffer[sent:nbytes]))

    def eof_received(self) -> bool:
        self.link.feed_eof()
        return True


class ClientSide(_Side):
    """The protocol of an accepted client socket; it dials the upstream on connect."""

    __slots__ = ("conn", "proxy")

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.buffer = proxy.buffer
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        _repause_until_wired(transport, self.conn_wired)
        self.conn = Connection(self.proxy, transport)
        self.link = self.conn.up
        self.proxy.connection_opened(self.conn)

    def conn_wired(self) -> bool:
        return self.conn is not None and self.conn.server is not None

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.conn is not None
        self.conn.transport_lost(self.conn.client)

    def pause_writing(self) -> None:
        assert self.conn is not None
        self.conn.down.dest_pause()

    def resume_writing(self) -> None:
        assert self.conn is not None
        self.conn.down.dest_resume()


class ServerSide(_Side):
    """The protocol of the proxy's connection to the upstream."""

    __slots__ = ("conn", "transport")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.link = conn.down
        self.buffer = conn.proxy.buffer
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until Connection.connected() has wired the links
        _repause_until_wired(transport, lambda: self.conn.server is not None)

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.transport is not None
        self.conn.transport_lost(self.transport)

    def pause_writing(self) -> None:
        self.conn.up.dest_pause()

    def resume_writing(self) -> None:
        self.conn.up.dest_resume()
