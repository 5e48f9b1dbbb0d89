"""The scheduler, driven by a hand-moved clock: each slot fires exactly once across restarts, the concurrency
policy holds, missed slots are caught up once, and a game day's deadline interrupts it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chaoskit.errors import SchedulerError
from chaoskit.gameday.clock import ManualClock, settle
from chaoskit.gameday.scheduler import Entry, Outcome, Scheduler
from chaoskit.gameday.slots import SlotStore

UTC = dt.UTC
HOURLY = Entry("hourly", "0 * * * *", "UTC", starting_deadline=3600.0)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 6) -> dt.datetime:
    return dt.datetime(2025, 1, day, hour, minute, second, tzinfo=UTC)


class Recorder:
    """An ``execute`` that records each slot and takes ``seconds`` of the clock (or until stopped)."""

    def __init__(self, clock: ManualClock, seconds: float = 60.0) -> None:
        self.clock = clock
        self.seconds = seconds
        self.fired: list[dt.datetime] = []
        self.running = 0
        self.most_at_once = 0
        self.stopped: list[dt.datetime] = []

    async def __call__(self, entry: Entry, slot: dt.datetime, stop: asyncio.Event) -> Outcome:
        self.fired.append(slot.astimezone(UTC))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            sleep = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + self.seconds))
            halt = asyncio.ensure_future(stop.wait())
            await asyncio.wait({sleep, halt}, return_when=asyncio.FIRST_COMPLETED)
            sleep.cancel()
            halt.cancel()
            if stop.is_set():
                self.stopped.append(slot.astimezone(UTC))
                return Outcome("interrupted", f"run-{slot:%H%M}", "stopped")
            return Outcome("passed", f"run-{slot:%H%M}", "ok")
        finally:
            self.running -= 1


class Incarnation:
    """One life of a scheduler process: started on a task, stopped (or killed) by the test."""

    def __init__(self, entries: list[Entry], state: Path, clock: ManualClock,
                 execute: Callable[[Entry, dt.datetime, asyncio.Event], Awaitable[Outcome]]) -> None:
        self.stop = asyncio.Event()
        self.scheduler = Scheduler(entries, state_dir=state, execute=execute, clock=clock, log=self.logs.append)
        self.task: asyncio.Task[int] | None = None

    logs: list[str] = []

    async def start(self, **kwargs: Any) -> Incarnation:
        self.task = asyncio.ensure_future(self.scheduler.run(stop=self.stop, **kwargs))
        await settle()
        return self

    async def shut(self) -> int:
        self.stop.set()
        assert self.task is not None
        return await self.task


def slots(state: Path, name: str = "hourly") -> list[tuple[str, str]]:
    store = SlotStore(state)
    try:
        return [(dt.datetime.fromtimestamp(r.slot, UTC).strftime("%d %H:%M"), r.state) for r in store.all(name)]
    finally:
        store.close()


def test_each_slot_fires_exactly_once_across_restarts(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(at(8, 59, 30))
        execute = Recorder(clock, seconds=60)
        first = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(10, 30))  # 09:00 and 10:00 fire
        assert await first.shut() == 2
        # restarted in the same hour: 10:00 is already decided, nothing fires again
        second = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(10, 59, 59))
        assert execute.fired == [at(9), at(10)]
        await clock.advance_to(at(11, 0, 1))
        await second.shut()  # stopped while 11:00 runs: that run is interrupted (faults reverted), not retried
        assert execute.stopped == [at(11)]
        # down across 12:00; back at 12:20: 12:00 is caught up (20 minutes late, within the hour)
        await clock.advance_to(at(12, 20))
        third = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(13, 30))
        await third.shut()
        assert execute.fired == [at(9), at(10), at(11), at(12), at(13)]

    asyncio.run(scenario())
    assert slots(tmp_path) == [("06 09:00", "done"), ("06 10:00", "done"), ("06 11:00", "done"),
                               ("06 12:00", "done"), ("06 13:00", "done")]


def test_a_slot_running_when_the_scheduler_died_is_abandoned_not_rerun(tmp_path: Path) -> None:
    store = SlotStore(tmp_path)  # what a scheduler killed at 09:00:30 leaves behind
    store.arm("hourly", at(8).timestamp())
    store.claim("hourly", at(9), "queued", None, at(9).timestamp())
    assert store.start("hourly", at(9).timestamp(), at(9).timestamp(), pid=999_999)
    store.close()

    async def scenario() -> Recorder:
        clock = ManualClock(at(9, 0, 40))
        execute = Recorder(clock, seconds=60)
        run = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(10, 0, 5))
        await run.shut()
        return execute

    assert asyncio.run(scenario()).fired == [at(10)]
    assert slots(tmp_path) == [("06 09:00", "abandoned"), ("06 10:00", "done")]


def test_slots_missed_while_down_are_caught_up_once_within_the_starting_deadline(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(at(8, 30))
        execute = Recorder(clock, seconds=10)
        first = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(9, 5))
        await first.shut()
        # down from 09:05 to 13:40: 10:00, 11:00 and 12:00 are more than an hour late; 13:00 is 40 minutes late
        await clock.advance_to(at(13, 40))
        second = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        await clock.advance_to(at(14, 0, 30))
        await second.shut()
        assert execute.fired == [at(9), at(13), at(14)]

    asyncio.run(scenario())
    assert slots(tmp_path) == [("06 09:00", "done"), ("06 10:00", "missed"), ("06 11:00", "missed"),
                               ("06 12:00", "missed"), ("06 13:00", "done"), ("06 14:00", "done")]


def test_several_due_slots_are_coalesced_into_the_latest(tmp_path: Path) -> None:
    every_10 = Entry("hourly", "*/10 * * * *", "UTC", starting_deadline=3600.0)

    async def scenario() -> None:
        clock = ManualClock(at(8, 55))
        execute = Recorder(clock, seconds=5)
        first = await Incarnation([every_10], tmp_path, clock, execute).start()
        await first.shut()
        await clock.advance_to(at(9, 35))  # 09:00 .. 09:30 came while it was down, all within the hour
        second = await Incarnation([every_10], tmp_path, clock, execute).start()
        await second.shut()
        assert execute.fired == [at(9, 30)]

    asyncio.run(scenario())
    assert [s for _, s in slots(tmp_path)] == ["missed", "missed", "missed", "done"]


def test_concurrency_skip_drops_a_slot_while_the_previous_run_runs(tmp_path: Path) -> None:
    entry = Entry("hourly", "0 * * * *", "UTC", concurrency="skip")

    async def scenario() -> Recorder:
        clock = ManualClock(at(8, 59))
        execute = Recorder(clock, seconds=90 * 60)  # each run takes 90 minutes
        run = await Incarnation([entry], tmp_path, clock, execute).start()
        await clock.advance_to(at(12, 0, 1))
        await run.shut()
        return execute

    execute = asyncio.run(scenario())
    assert execute.fired == [at(9), at(11)] and execute.most_at_once == 1
    assert slots(tmp_path) == [("06 09:00", "done"), ("06 10:00", "skipped"), ("06 11:00", "done"),
                               ("06 12:00", "skipped")]


def test_concurrency_queue_runs_a_slot_after_the_previous_run(tmp_path: Path) -> None:
    entry = Entry("hourly", "0 * * * *", "UTC", concurrency="queue")

    async def scenario() -> tuple[Recorder, list[float]]:
        clock = ManualClock(at(8, 59))
        execute = Recorder(clock, seconds=90 * 60)
        starts: list[float] = []
        original = execute.__call__

        async def timed(e: Entry, slot: dt.datetime, stop: asyncio.Event) -> Outcome:
            starts.append(clock.now())
            return await original(e, slot, stop)

        run = await Incarnation([entry], tmp_path, clock, timed).start()
        await clock.advance_to(at(13, 0, 1))
        await run.shut()
        return execute, starts

    execute, starts = asyncio.run(scenario())
    assert execute.fired == [at(9), at(10), at(11)] and execute.most_at_once == 1
    # each queued slot starts when the one before it ends, 90 minutes later
    assert [dt.datetime.fromtimestamp(s, UTC) for s in starts] == [at(9), at(10, 30), at(12)]
    assert slots(tmp_path)[-2:] == [("06 12:00", "queued"), ("06 13:00", "queued")], "still queued when stopped"


def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    entry = Entry("hourly", "0 * * * *", "UTC", concurrency="queue")

    async def scenario() -> Recorder:
        clock = ManualClock(at(8, 59))
        execute = Recorder(clock, seconds=90 * 60)
        first = await Incarnation([entry], tmp_path, clock, execute).start()
        await clock.advance_to(at(10, 0, 1))  # 09:00 runs, 10:00 queued
        await first.shut()  # interrupts 09:00 (recorded done, interrupted); 10:00 stays queued
        second = await Incarnation([entry], tmp_path, clock, execute).start()
        await clock.advance_to(at(10, 5))
        await second.shut()
        return execute

    execute = asyncio.run(scenario())
    assert execute.fired == [at(9), at(10)]
    assert execute.stopped == [at(9), at(10)], "stopping the scheduler interrupts its runs"


def test_different_game_days_run_side_by_side(tmp_path: Path) -> None:
    a = Entry("a", "0 * * * *", "UTC")
    b = Entry("b", "0 * * * *", "UTC")

    async def scenario() -> Recorder:
        clock = ManualClock(at(8, 59))
        execute = Recorder(clock, seconds=30 * 60)
        run = await Incarnation([a, b], tmp_path, clock, execute).start()
        await clock.advance_to(at(9, 1))
        await run.shut()
        return execute

    execute = asyncio.run(scenario())
    assert execute.fired == [at(9), at(9)] and execute.most_at_once == 2


def test_max_runs_lets_the_last_run_finish_and_leaves_later_slots_to_the_next_scheduler(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, Recorder]:
        clock = ManualClock(at(8, 59))
        execute = Recorder(clock, seconds=30 * 60)
        run = await Incarnation([HOURLY], tmp_path, clock, execute).start(max_runs=2)
        await clock.advance_to(at(11, 0, 1))
        assert run.task is not None and run.task.done()
        return await run.task, execute

    started, execute = asyncio.run(scenario())
    assert started == 2 and execute.fired == [at(9), at(10)] and execute.stopped == []
    assert slots(tmp_path) == [("06 09:00", "done"), ("06 10:00", "done")], "11:00 is the next scheduler's"


def test_daylight_saving_slots_fire_once_in_the_schedule_time_zone(tmp_path: Path) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    nightly = Entry("nightly", "30 2 * * *", "Europe/Berlin", starting_deadline=3600.0)

    async def scenario() -> Recorder:
        clock = ManualClock(dt.datetime(2025, 3, 28, 12, tzinfo=berlin))
        execute = Recorder(clock, seconds=60)
        run = await Incarnation([nightly], tmp_path, clock, execute).start()
        await clock.advance_to(dt.datetime(2025, 3, 31, 12, tzinfo=berlin))
        await run.shut()
        return execute

    execute = asyncio.run(scenario())
    # 02:30 does not exist on 30 March (clocks jump 02:00 -> 03:00): cron runs it at 03:00, once
    assert [s.astimezone(berlin).strftime("%d %H:%M") for s in execute.fired] == ["29 02:30", "30 03:00", "31 02:30"]


def test_a_second_scheduler_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock(at(8))
        execute = Recorder(clock)
        first = await Incarnation([HOURLY], tmp_path, clock, execute).start()
        with pytest.raises(SchedulerError, match="another scheduler"):
            await Scheduler([HOURLY], state_dir=tmp_path, execute=execute, clock=clock).run()
        await first.shut()

    asyncio.run(scenario())


def test_two_game_days_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SchedulerError, match="named hourly"):
        Scheduler([HOURLY, HOURLY], state_dir=tmp_path, execute=Recorder(ManualClock(0)))
