"""The scheduler's record of every cron slot it handled, in ``<state_dir>/schedule.sqlite``.

A slot is written (``queued``, ``skipped`` or ``missed``) in the same transaction that moves the game day's cursor
past it, *before* anything runs, and ``(gameday, slot)`` is the primary key: a restarted scheduler cannot run a
slot twice, and it finds every slot it has not handled yet between its cursor and now. A slot that was running
when the scheduler died is marked ``abandoned``, never run again: a chaos run is not something to repeat blindly.

States: ``queued`` → ``running`` → ``done``; or ``skipped`` (concurrency policy), ``missed`` (too late, or
coalesced into a later slot), ``abandoned``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SLOTS_FILE = "schedule.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    gameday TEXT PRIMARY KEY,
    last_slot REAL NOT NULL,       -- every slot at or before this time has a row (or was before arming)
    armed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (
    gameday TEXT NOT NULL,
    slot REAL NOT NULL,            -- Unix time of the slot
    slot_iso TEXT NOT NULL,        -- the slot in the schedule's time zone
    state TEXT NOT NULL,
    reason TEXT,
    decided_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    pid INTEGER,
    run_id TEXT,
    outcome TEXT,
    PRIMARY KEY (gameday, slot)
);
"""


@dataclass(frozen=True)
class SlotRow:
    gameday: str
    slot: float
    slot_iso: str
    state: str
    reason: str | None
    decided_at: float
    started_at: float | None
    finished_at: float | None
    pid: int | None
    run_id: str | None
    outcome: str | None


class SlotStore:
    """One connection to the slot record; every write is its own committed transaction."""

    def __init__(self, state_dir: str | Path) -> None:
        path = Path(state_dir) / SLOTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a slot marked taken must survive a power cut
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def cursor(self, gameday: str) -> float | None:
        row = self._db.execute("SELECT last_slot FROM cursors WHERE gameday = ?", (gameday,)).fetchone()
        return None if row is None else float(row[0])

    def arm(self, gameday: str, now: float) -> float:
        """The game day's cursor; a game day seen for the first time starts at ``now`` (no backfill)."""
        self._db.execute("INSERT OR IGNORE INTO cursors VALUES (?, ?, ?)", (gameday, now, now))
        cursor = self.cursor(gameday)
        assert cursor is not None
        return cursor

    def claim(self, gameday: str, slot: dt.datetime, state: str, reason: str | None, now: float) -> bool:
        """Record ``slot`` as decided and move the cursor past it; False when it was already recorded."""
        at = slot.timestamp()
        with self._transaction():
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO slots (gameday, slot, slot_iso, state, reason, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (gameday, at, slot.isoformat(), state, reason, now),
            ).rowcount
            self._db.execute("UPDATE cursors SET last_slot = MAX(last_slot, ?) WHERE gameday = ?", (at, gameday))
        return bool(inserted)

    def skip_to(self, gameday: str, at: float) -> None:
        """Move the cursor to ``at`` without recording the slots before it (too many missed to list)."""
        self._db.execute("UPDATE cursors SET last_slot = MAX(last_slot, ?) WHERE gameday = ?", (at, gameday))

    def start(self, gameday: str, slot: float, now: float, pid: int) -> bool:
        return bool(self._db.execute(
            "UPDATE slots SET state = 'running', started_at = ?, pid = ? "
            "WHERE gameday = ? AND slot = ? AND state = 'queued'", (now, pid, gameday, slot)).rowcount)

    def finish(self, gameday: str, slot: float, now: float, outcome: str, run_id: str | None, reason: str) -> None:
        self._db.execute(
            "UPDATE slots SET state = 'done', finished_at = ?, outcome = ?, run_id = ?, reason = ? "
            "WHERE gameday = ? AND slot = ?", (now, outcome, run_id, reason, gameday, slot))

    def abandon_running(self, now: float) -> list[SlotRow]:
        """Slots a previous scheduler left ``running`` (it died): marked ``abandoned``, never run again."""
        with self._transaction():
            rows = self._rows("WHERE state = 'running'", ())
            self._db.execute("UPDATE slots SET state = 'abandoned', finished_at = ?, "
                             "reason = 'the scheduler stopped while this slot ran' WHERE state = 'running'", (now,))
        return rows

    def queued(self, gameday: str) -> list[SlotRow]:
        return self._rows("WHERE gameday = ? AND state = 'queued' ORDER BY slot", (gameday,))

    def recent(self, gameday: str, limit: int) -> list[SlotRow]:
        return self._rows("WHERE gameday = ? ORDER BY slot DESC LIMIT ?", (gameday, limit))

    def all(self, gameday: str) -> list[SlotRow]:
        return self._rows("WHERE gameday = ? ORDER BY slot", (gameday,))

    def _rows(self, where: str, args: tuple[object, ...]) -> list[SlotRow]:
        cursor = self._db.execute(
            "SELECT gameday, slot, slot_iso, state, reason, decided_at, started_at, finished_at, pid, run_id, "
            f"outcome FROM slots {where}", args)
        return [SlotRow(*row) for row in cursor.fetchall()]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): the write lock is taken before reading."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
