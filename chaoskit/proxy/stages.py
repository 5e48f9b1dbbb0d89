"""The pipeline pieces of a link with toxics: chunks, bounded pipes and the stage that runs one toxic.

A stage's pipe coroutine (see :mod:`chaoskit.proxy.toxics`) only uses :meth:`Stage.recv`, :meth:`Stage.send`,
:meth:`Stage.sleep` and :meth:`Stage.close`; ``recv`` and ``sleep`` raise :class:`Interrupted` when the toxic is
updated or a neighbour is added or removed, as Toxiproxy's ``ToxicStub.Interrupt`` does. A send is never
interrupted, so data is never dropped by an edit of the chain.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chaoskit.proxy.toxics import Toxic

if TYPE_CHECKING:
    from chaoskit.proxy.lateness import Lateness
    from chaoskit.proxy.links import Link


class Chunk:
    """The bytes of one read with the loop time they arrived at."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Interrupted(Exception):
    """Raised inside a stage's pipe coroutine when its toxic changes or a neighbour is added or removed."""


def wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class Pipe:
    """A bounded FIFO of chunks between two stages. Closing it (EOF) is sticky; :meth:`push` never blocks."""

    __slots__ = ("closed", "getter", "items", "maxsize", "on_space", "putters")

    def __init__(self, maxsize: int) -> None:
        self.items: deque[Chunk] = deque()
        self.maxsize = maxsize
        self.closed = False
        self.getter: asyncio.Future[None] | None = None
        self.putters: list[asyncio.Future[None]] = []
        self.on_space: Callable[[], None] | None = None

    def full(self) -> bool:
        return len(self.items) >= self.maxsize

    def push(self, chunk: Chunk) -> None:
        self.items.append(chunk)
        wake(self.getter)

    def close(self) -> None:
        self.closed = True
        wake(self.getter)

    def pop(self) -> Chunk:
        chunk = self.items.popleft()
        if len(self.items) < self.maxsize:
            self.wake_putters()
            if self.on_space is not None:
                self.on_space()
        return chunk

    def wake_putters(self) -> None:
        putters, self.putters = self.putters, []
        for fut in putters:
            wake(fut)


class Stage:
    """One toxic applied to one link: runs the toxic's pipe coroutine from ``input`` to ``output``."""

    def __init__(self, link: Link, toxic: Toxic | None, input: Pipe, output: Pipe) -> None:
        self.link = link
        self.toxic = toxic
        self.input = input
        self.output = output
        self.held: deque[Chunk] = deque()  # chunks to send first after an interrupt
        self.state: dict[str, Any] = {}  # per-link state that survives restarts (limit_data's counter)
        self.removed = False
        self.dead = False
        self.waiting = False  # blocked in recv() with nothing in hand
        self._interrupt = False
        self._waiter: asyncio.Future[None] | None = None
        self._send_waiter: asyncio.Future[None] | None = None
        self.loop = link.loop
        self.clock = link.loop.time
        self.lateness: Lateness = link.conn.proxy.lateness["upstream" if link.upstream else "downstream"]
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = self.loop.create_task(self._run())

    def require_toxic(self) -> Toxic:
        assert self.toxic is not None
        return self.toxic

    @staticmethod
    def new_chunk(data: bytes, ts: float) -> Chunk:
        return Chunk(data, ts)

    # --------------------------------------------------------------------------- the API of pipe coroutines

    async def recv(self, timeout: float | None = None) -> Chunk | None:
        """The next chunk, or None at EOF (or after ``timeout`` seconds with no chunk). Interruptible."""
        pipe = self.input
        while True:
            if self._interrupt:
                self._interrupt = False
                raise Interrupted
            if pipe.items:
                return pipe.pop()
            if pipe.closed:
                return None
            fut = self.loop.create_future()
            self._waiter = pipe.getter = fut
            handle = self.loop.call_later(timeout, wake, fut) if timeout is not None else None
            self.waiting = True
            try:
                await fut
            finally:
                self.waiting = False
                self._waiter = pipe.getter = None
                if handle is not None:
                    handle.cancel()
            if timeout is not None and not pipe.items and not self._interrupt:
                return None

    async def send(self, chunk: Chunk) -> None:
        """Pass a chunk on, waiting while the next pipe is full (not interruptible, as in Go)."""
        out, link = self.output, self.link
        if out is link.tail and not out.items and not out.closed and link.writer_idle and not link.dest_paused:
            # The last stage with nothing queued before the writer: write now, saving a task switch per chunk.
            if not link.dest.is_closing():
                link.sent += len(chunk.data)
                link.dest.write(chunk.data)
            return
        while self.output.full() and not self.output.closed:
            fut = self.loop.create_future()
            self._send_waiter = fut
            self.output.putters.append(fut)
            try:
                await fut
            finally:
                self._send_waiter = None
        self.output.push(chunk)

    async def sleep(self, seconds: float, *, interruptible: bool = True) -> None:
        await self.sleep_until(self.clock() + seconds, interruptible=interruptible)

    async def sleep_until(self, deadline: float, *, interruptible: bool = True) -> None:
        """Wait until the loop time ``deadline`` (an absolute time, so no error accumulates over chunks)."""
        if interruptible and self._interrupt:
            self._interrupt = False
            raise Interrupted
        if deadline <= self.clock():
            return
        fut = self.loop.create_future()
        handle = self.loop.call_at(deadline, wake, fut)
        if interruptible:
            self._waiter = fut
        try:
            await fut
        finally:
            handle.cancel()
            self._waiter = None

    def close(self) -> None:
        """End this direction after what was already sent (EOF downstream); the stage stops reading."""
        self.dead = True
        self.output.close()

    # ------------------------------------------------------------------------------------- control (sync)

    def interrupt(self) -> None:
        self._interrupt = True
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_exception(Interrupted())

    def rewired(self) -> None:
        """The output pipe changed: a send blocked on the old one re-checks the new one."""
        wake(self._send_waiter)

    async def _run(self) -> None:
        while not self.dead:
            try:
                while self.held:
                    await self.send(self.held.popleft())
                toxic = self.toxic
                if toxic is not None and toxic.draw():
                    await toxic.type.pipe(self)
                else:
                    await self._passthrough()
                return
            except Interrupted:
                self._interrupt = False

    async def _passthrough(self) -> None:
        while True:
            if self.removed and not self.input.items and not self.input.closed and not self.held:
                self.link.unlink(self)
                return
            chunk = await self.recv()
            if chunk is None:
                self.close()
                return
            await self.send(chunk)
