"""Time as the scheduler and the game-day runner see it: the wall clock, or a clock a test moves by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol

# The wall clock re-reads the time at least this often while it waits, so a suspended machine or a stepped clock
# delays a slot by at most this much.
MAX_NAP = 30.0


class Clock(Protocol):
    """What the scheduler needs of time: the current Unix time and a way to wait for a later one."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once ``now() >= when`` (at once if it already is)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        while (remaining := when - time.time()) > 0:  # ends: each nap brings the time closer to ``when``
            await asyncio.sleep(min(remaining, MAX_NAP))


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`; sleepers wake in time order as it passes them.

    >>> clock = ManualClock(dt.datetime(2025, 1, 6, 8, 59, tzinfo=dt.UTC))
    >>> await clock.advance(90)        # doctest: +SKIP  (wakes whoever slept until 09:00, then settles)
    """

    def __init__(self, start: float | dt.datetime) -> None:
        self._now = start.timestamp() if isinstance(start, dt.datetime) else float(start)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (when, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, stopping at each sleeper's wake-up time to let the loop react."""
        await self.advance_to(self._now + seconds)

    async def advance_to(self, when: float | dt.datetime) -> None:
        target = when.timestamp() if isinstance(when, dt.datetime) else float(when)
        await settle()
        for _ in range(100_000):  # each pass wakes at least one sleeper, and sleepers only ask for later times
            due = [s for s in self._sleepers if s[0] <= target and not s[1].done()]
            if not due:
                break
            first = min(s[0] for s in due)
            self._now = max(self._now, first)
            for at, future in due:
                if at <= self._now and not future.done():
                    future.set_result(None)
            await settle()
        self._now = max(self._now, target)
        await settle()

    def datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._now, dt.UTC)


async def settle(rounds: int = 200) -> None:
    """Let every ready task run until the loop is quiet (no task here waits on real I/O)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
