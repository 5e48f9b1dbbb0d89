"""The long-running game-day scheduler: fires each cron slot of each game day once, across restarts.

Each pass of its loop reads the time, decides every slot between a game day's cursor and now (see
:mod:`~chaoskit.gameday.slots`: the decision is committed before anything runs), starts the oldest queued slot of
every game day that is not running, and sleeps until the next slot, a run's end, or a stop.

- A slot that comes while the previous run of its game day still runs is ``skipped`` or ``queued``
  (``concurrency``); at most ``MAX_QUEUED`` wait, later ones are skipped.
- Slots the scheduler missed (it was down) are caught up once: the latest one still starts if it is at most
  ``starting_deadline`` late, the earlier ones are recorded ``missed`` (coalesced), as a Kubernetes CronJob does.
- Only one scheduler may own a state directory (an exclusive lock on ``scheduler.lock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chaoskit.errors import SchedulerError
from chaoskit.gameday.clock import Clock, SystemClock
from chaoskit.gameday.cron import next_slot, slots_between
from chaoskit.gameday.slots import SlotRow, SlotStore

if TYPE_CHECKING:
    from chaoskit.gameday.loader import LoadedGameDay
    from chaoskit.plugins import Plugins

MAX_QUEUED = 10
MAX_MISSED_ROWS = 100  # missed slots recorded one by one; past that the cursor jumps
MAX_DUE = 1000  # slots decided per game day in one pass of the loop
LOCK_FILE = "scheduler.lock"


@dataclass(frozen=True)
class Entry:
    """A game day as the scheduler sees it."""

    name: str
    cron: str
    timezone: str
    starting_deadline: float = 3600.0
    concurrency: str = "skip"


@dataclass(frozen=True)
class Outcome:
    """How a scheduled run ended, as the slot record keeps it."""

    outcome: str
    run_id: str | None = None
    reason: str = ""


Execute = Callable[[Entry, dt.datetime, asyncio.Event], Awaitable[Outcome]]
Log = Callable[[str], None]


class Scheduler:
    """Fires the slots of ``entries`` through ``execute(entry, slot, stop)``; see the module docstring."""

    def __init__(self, entries: list[Entry], *, state_dir: str | Path, execute: Execute,
                 clock: Clock | None = None, log: Log | None = None) -> None:
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise SchedulerError(f"two game days are named {', '.join(twice)}; names must differ",
                                 state_dir=state_dir)
        self.entries = entries
        self.state_dir = Path(state_dir)
        self.execute = execute
        self.clock = clock or SystemClock()
        self.log = log or (lambda _message: None)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._store: SlotStore | None = None

    async def run(self, *, stop: asyncio.Event | None = None, max_runs: int | None = None,
                  stop_after: float | None = None) -> int:
        """Schedule until ``stop`` is set, ``stop_after`` seconds have passed (running game days are then
        interrupted) or ``max_runs`` runs were started and have finished; returns the number started."""
        stop = stop or asyncio.Event()
        started = 0
        with self._lock():
            store = self._store = SlotStore(self.state_dir)
            try:
                now = self.clock.now()
                for row in store.abandon_running(now):
                    self.log(f"{row.gameday}: slot {row.slot_iso} was running when the scheduler stopped; "
                             "marked abandoned (not run again)")
                for entry in self.entries:
                    store.arm(entry.name, now)
                    self.log(f"{entry.name}: next slot {self._next(entry):%Y-%m-%d %H:%M %Z}")
                end = None if stop_after is None else now + stop_after
                for _ in range(10**9):  # ends on stop, end time or max_runs; each pass sleeps or starts a run
                    self._changed.clear()
                    now = self.clock.now()
                    if stop.is_set():
                        break
                    if end is not None and now >= end:
                        self.log("--stop-after reached: stopping")
                        stop.set()
                        break
                    full = max_runs is not None and started >= max_runs
                    if full and not self._running:
                        break
                    if not full:
                        for entry in self.entries:
                            self._decide(store, entry, now)
                        for entry in self.entries:
                            if max_runs is not None and started >= max_runs:
                                break
                            if entry.name not in self._running and self._start(store, entry, stop):
                                started += 1
                    wake = [self._next(e).timestamp() for e in self.entries] if not full else []
                    if end is not None:
                        wake.append(end)
                    await self._wait(min(wake) if wake else None, stop)
            finally:
                stop.set()  # running game days are interrupted (their faults reverted) and waited for
                if self._running:
                    await asyncio.gather(*self._running.values(), return_exceptions=True)
                store.close()
                self._store = None
        return started

    # ------------------------------------------------------------------------------------------------- slots

    def _next(self, entry: Entry) -> dt.datetime:
        assert self._store is not None
        cursor = self._store.cursor(entry.name)
        return next_slot(entry.cron, entry.timezone, cursor if cursor is not None else self.clock.now())

    def _decide(self, store: SlotStore, entry: Entry, now: float) -> None:
        """Record a decision for every slot of ``entry`` between its cursor and ``now``."""
        cursor = store.cursor(entry.name)
        assert cursor is not None
        too_late = now - entry.starting_deadline
        old = slots_between(entry.cron, entry.timezone, cursor, too_late, MAX_MISSED_ROWS)
        for slot in old:
            store.claim(entry.name, slot, "missed", f"not started within starting_deadline "
                        f"({entry.starting_deadline:g}s): the scheduler was not running", now)
        if old:
            self.log(f"{entry.name}: {len(old)} slot(s) missed while the scheduler was down (latest {old[-1]:%c})")
        if len(old) == MAX_MISSED_ROWS:
            store.skip_to(entry.name, too_late)
            cursor = store.cursor(entry.name)
            assert cursor is not None
        due = slots_between(entry.cron, entry.timezone, cursor, now, MAX_DUE)
        if not due:
            return
        latest = due[-1]
        for slot in due[:-1]:
            store.claim(entry.name, slot, "missed", f"coalesced: slot {latest.isoformat()} runs instead", now)
        waiting = store.queued(entry.name)
        busy = entry.name in self._running or bool(waiting)
        if busy and entry.concurrency == "skip":
            if store.claim(entry.name, latest, "skipped", "the previous run still runs (concurrency: skip)", now):
                self.log(f"{entry.name}: slot {latest.isoformat()} skipped: the previous run still runs")
        elif busy and len(waiting) >= MAX_QUEUED:
            store.claim(entry.name, latest, "skipped", f"{MAX_QUEUED} runs already queued", now)
            self.log(f"{entry.name}: slot {latest.isoformat()} skipped: {MAX_QUEUED} runs already queued")
        elif store.claim(entry.name, latest, "queued", None, now) and busy:
            self.log(f"{entry.name}: slot {latest.isoformat()} queued behind the running one")

    def _start(self, store: SlotStore, entry: Entry, stop: asyncio.Event) -> bool:
        waiting = store.queued(entry.name)
        if not waiting:
            return False
        row = waiting[0]
        if not store.start(entry.name, row.slot, self.clock.now(), os.getpid()):
            return False
        self.log(f"{entry.name}: slot {row.slot_iso} starts")
        self._running[entry.name] = asyncio.ensure_future(self._execute(store, entry, row, stop))
        return True

    async def _execute(self, store: SlotStore, entry: Entry, row: SlotRow, stop: asyncio.Event) -> None:
        slot = dt.datetime.fromisoformat(row.slot_iso)
        try:
            result = await self.execute(entry, slot, stop)
        except Exception as exc:  # the game day's own failure is in its result; this is a bug or an OS error
            result = Outcome("error", None, f"the game day could not run: {type(exc).__name__}: {exc}")
        finally:
            self._running.pop(entry.name, None)
            self._changed.set()
        store.finish(entry.name, row.slot, self.clock.now(), result.outcome, result.run_id, result.reason)
        self.log(f"{entry.name}: slot {row.slot_iso} finished {result.outcome.upper()}: {result.reason}")

    async def _wait(self, until: float | None, stop: asyncio.Event) -> None:
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait()),
                                            asyncio.ensure_future(stop.wait())]
        if until is not None:
            waits.append(asyncio.ensure_future(self.clock.sleep_until(until)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    # ------------------------------------------------------------------------------------------------- lock

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / LOCK_FILE
        handle: IO[str] = path.open("a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise SchedulerError(f"another scheduler (pid {holder}) owns {self.state_dir}; stop it first, or "
                                     "use another --state-dir", state_dir=self.state_dir) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()  # releases the lock


def scheduler_for_files(loaded: list[LoadedGameDay], *, state_dir: str | Path, plugins: Plugins | None = None,
                        notify: bool = True, log: Log | None = None, clock: Clock | None = None) -> Scheduler:
    """A scheduler running each game day of ``loaded`` (re-read from its file at each slot) in its own processes."""
    from chaoskit.errors import GameDayError
    from chaoskit.gameday.loader import load_gameday
    from chaoskit.gameday.runner import run_gameday

    unscheduled = [str(g.path) for g in loaded if g.gameday.schedule is None]
    if unscheduled:
        raise SchedulerError(f"no schedule in {', '.join(unscheduled)}: add `schedule: {{cron: ...}}`",
                             state_dir=state_dir)
    files = {g.name: g.path for g in loaded}
    entries = []
    for g in loaded:
        s = g.gameday.schedule
        assert s is not None
        entries.append(Entry(g.name, s.cron, s.timezone, s.starting_deadline, g.gameday.concurrency))
    say = log or (lambda _message: None)

    async def execute(entry: Entry, slot: dt.datetime, stop: asyncio.Event) -> Outcome:
        try:  # edits to the file (experiments, variables, notify) apply from the next slot on
            current = load_gameday(files[entry.name])
        except GameDayError as exc:
            return Outcome("invalid", None, f"the game-day file is invalid now: {exc.diagnostics[0]}")
        result = await run_gameday(current, state_dir=state_dir, plugins=plugins, stop=stop, trigger="schedule",
                                   slot=slot.isoformat(), notify=notify, clock=clock,
                                   log=lambda m: say(f"{entry.name}: {m}"))
        return Outcome(result.outcome.value, result.run_id, result.reason)

    return Scheduler(entries, state_dir=state_dir, execute=execute, clock=clock, log=log)
