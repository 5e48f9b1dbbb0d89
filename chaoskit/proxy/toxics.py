"""Every Toxiproxy toxic: its attributes (as the API shows them) and its behaviour on one link stage.

A :class:`Toxic` is shared by every live link of its proxy and direction; its attributes are read at each use,
so an update reaches open connections at once. Behaviour follows Toxiproxy 2.12's ``toxics/*.go`` (see
``docs/proxy.md``); times in attributes are integer milliseconds, except the slicer's ``delay`` (microseconds).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.proxy.stages import Stage

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Longest sleep a toxic takes, in seconds: Go's time.Duration saturates near 292 years; asyncio timers
# misbehave long before that, and nothing a test or experiment waits for is longer than a year.
MAX_SLEEP = 365 * 24 * 3600.0
# asyncio's epoll selector rounds every wait up to a whole millisecond, so a timer fires 0-1 ms late (0.5 ms on
# average). Latency waits end this much early to centre that error on the target instead of after it.
TIMER_SLACK = 0.0005


class AttributeError_(ValueError):
    """An attribute value the embedded server refuses (where the real server would crash)."""


@dataclass(frozen=True)
class ToxicType:
    """A toxic type: its attribute names in API order, its input buffer and its pipe coroutine."""

    name: str
    attributes: tuple[str, ...]
    pipe: Callable[[Stage], Awaitable[None]]
    buffer: int = 1
    check: Callable[[dict[str, int]], None] | None = None


def float32(value: float) -> float:
    """``value`` rounded to a Go float32, as Toxiproxy stores toxicity."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


@dataclass
class Toxic:
    """One toxic of a proxy, live-updated in place."""

    name: str
    type: ToxicType
    stream: str
    upstream: bool
    toxicity: float = 1.0
    attrs: dict[str, int] = field(default_factory=dict)

    def attr(self, key: str) -> int:
        return self.attrs.get(key, 0)

    def draw(self) -> bool:
        """Whether this toxic applies to a stage (re)started now (Go: ``rand.Float32() < toxicity``)."""
        return random.random() < self.toxicity


# ------------------------------------------------------------------------------------------------ behaviours


def _ms(value: int) -> float:
    return min(max(value, 0) / 1000.0, MAX_SLEEP)


async def _noop(stage: Stage) -> None:
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        await stage.send(chunk)


async def _latency(stage: Stage) -> None:
    toxic = stage.require_toxic()
    loop_time = stage.clock
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        delay = toxic.attr("latency")
        jitter = toxic.attr("jitter")
        if jitter > 0:
            delay += random.randrange(-jitter, jitter)
        due = chunk.ts + _ms(delay)
        # On interrupt the held chunk goes out at once (Go: "don't drop any data on the floor").
        stage.held.append(chunk)
        await stage.sleep_until(due - TIMER_SLACK)
        stage.held.clear()
        stage.lateness.observe(loop_time() - due)
        chunk.ts = due
        await stage.send(chunk)


async def _bandwidth(stage: Stage) -> None:
    toxic = stage.require_toxic()
    owed = 0.0  # seconds still owed for data already forwarded; the timer error carries over
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        rate = toxic.attr("rate")  # KB/s = bytes per ms
        owed = 0.0 if rate <= 0 else owed + len(chunk.data) / rate / 1000.0
        piece = rate * 100
        stage.held.append(chunk)
        while len(chunk.data) > piece:
            await stage.sleep(0.1)
            head, chunk.data = chunk.data[:piece], chunk.data[piece:]
            owed -= 0.1
            await stage.send(stage.new_chunk(head, chunk.ts))
        start = stage.clock()
        await stage.sleep(owed)
        owed -= stage.clock() - start
        stage.held.clear()
        await stage.send(chunk)


async def _slow_close(stage: Stage) -> None:
    toxic = stage.require_toxic()
    while True:
        chunk = await stage.recv()
        if chunk is None:
            await stage.sleep(_ms(toxic.attr("delay")))
            stage.close()
            return
        await stage.send(chunk)


async def _timeout(stage: Stage) -> None:
    toxic = stage.require_toxic()
    while True:
        timeout = toxic.attr("timeout")
        chunk = await stage.recv(timeout=_ms(timeout) if timeout > 0 else None)
        if chunk is None:  # EOF or the timeout passed with no incoming chunk
            stage.close()
            return
        # Data is dropped on the ground.


async def _reset_peer(stage: Stage) -> None:
    toxic = stage.require_toxic()
    await stage.recv()  # the first chunk (or EOF) is discarded
    await stage.sleep(_ms(toxic.attr("timeout")), interruptible=False)
    stage.close()


def slice_bounds(size: int, average: int, variation: int) -> list[tuple[int, int]]:
    """Cut ``size`` bytes as Toxiproxy's slicer does: halve (midpoint +- rand(variation)) until small enough."""
    out: list[tuple[int, int]] = []
    todo = [(0, size)]
    while todo:
        start, end = todo.pop()
        if (end - start) - average <= variation:
            out.append((start, end))
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += random.randrange(variation * 2) - variation
        todo.append((mid, end))
        todo.append((start, mid))
    return out


async def _slicer(stage: Stage) -> None:
    toxic = stage.require_toxic()
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        data = chunk.data
        bounds = slice_bounds(len(data), toxic.attr("average_size"), toxic.attr("size_variation"))
        for start, end in bounds:
            await stage.send(stage.new_chunk(data[start:end], chunk.ts))
            if end < len(data):
                # If interrupted during the pause, the rest of the chunk goes on in one piece.
                stage.held.append(stage.new_chunk(data[end:], chunk.ts))
            await stage.sleep(min(max(toxic.attr("delay"), 0) / 1e6, MAX_SLEEP))
            stage.held.clear()


async def _limit_data(stage: Stage) -> None:
    toxic = stage.require_toxic()
    sent: int = stage.state.setdefault("bytes", 0)
    remaining = toxic.attr("bytes") - sent
    while True:
        chunk = await stage.recv()
        if chunk is None:
            stage.close()
            return
        remaining = max(remaining, 0)
        if remaining < len(chunk.data):
            chunk.data = chunk.data[:remaining]
        if chunk.data:
            await stage.send(chunk)
            stage.state["bytes"] += len(chunk.data)
            remaining = toxic.attr("bytes") - stage.state["bytes"]
        if remaining <= 0:
            stage.close()
            return


# ---------------------------------------------------------------------------------------------- validation


def _check_bandwidth(attrs: dict[str, int]) -> None:
    if attrs.get("rate", 0) < 0:
        raise AttributeError_("rate must not be negative (a negative rate crashes Toxiproxy)")


def _check_latency(attrs: dict[str, int]) -> None:
    if attrs.get("jitter", 0) > INT64_MAX // 2:
        raise AttributeError_(f"jitter must be at most {INT64_MAX // 2} (a larger one crashes Toxiproxy)")


def _check_slicer(attrs: dict[str, int]) -> None:
    average, variation = attrs.get("average_size", 0), attrs.get("size_variation", 0)
    if average < 1:
        raise AttributeError_("average_size must be at least 1 (a smaller one hangs and crashes Toxiproxy)")
    if variation > average:
        raise AttributeError_("size_variation must not exceed average_size (a larger one crashes Toxiproxy)")


TOXIC_TYPES: dict[str, ToxicType] = {
    t.name: t
    for t in (
        ToxicType("latency", ("latency", "jitter"), _latency, buffer=1024, check=_check_latency),
        ToxicType("bandwidth", ("rate",), _bandwidth, check=_check_bandwidth),
        ToxicType("slow_close", ("delay",), _slow_close),
        ToxicType("timeout", ("timeout",), _timeout),
        ToxicType("reset_peer", ("timeout",), _reset_peer),
        ToxicType("slicer", ("average_size", "size_variation", "delay"), _slicer, check=_check_slicer),
        ToxicType("limit_data", ("bytes",), _limit_data),
        ToxicType("noop", (), _noop),
    )
}
NOOP = TOXIC_TYPES["noop"]
