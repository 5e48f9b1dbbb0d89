"""Where the history lives: SQLite by default (``<state_dir>/history.sqlite``), PostgreSQL through a URL.

``CHAOSKIT_HISTORY`` chooses, for every entry point at once (CLI, pytest, game days, the API):

- unset or empty: ``<state_dir>/history.sqlite``;
- ``off`` (or ``0``, ``no``, ``none``, ``false``): nothing is recorded;
- ``postgresql://user:password@host:5432/db`` (or ``postgres://``): that database (needs the ``postgres`` extra,
  psycopg 3);
- ``sqlite:///absolute/path.sqlite`` or a plain file path: that SQLite file.

Both keep one table, ``chaoskit_runs``, one row per run (``run_id`` is the key: recording a run twice keeps the
last). Verdicts and faults are JSON text, so the schema does not change when the verdicts grow new figures.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from chaoskit.errors import HistoryError
from chaoskit.history.record import RunRecord

ENV = "CHAOSKIT_HISTORY"
HISTORY_FILE = "history.sqlite"
OFF = frozenset({"off", "0", "no", "none", "false"})
TABLE = "chaoskit_runs"

_COLUMNS: tuple[tuple[str, str, str], ...] = (  # name, SQLite type, PostgreSQL type
    ("run_id", "TEXT PRIMARY KEY", "TEXT PRIMARY KEY"),
    ("experiment", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("outcome", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("reason", "TEXT", "TEXT"),
    ("started_at", "REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    ("finished_at", "REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    ("duration", "REAL", "DOUBLE PRECISION"),
    ("source", "TEXT", "TEXT"),
    ("ttr", "REAL", "DOUBLE PRECISION"),
    ("recovered", "INTEGER", "BOOLEAN"),
    ("breaches", "INTEGER", "INTEGER"),
    ("verdicts", "TEXT", "TEXT"),
    ("faults", "TEXT", "TEXT"),
    ("journal", "TEXT", "TEXT"),
    ("via", "TEXT", "TEXT"),
    ("gameday", "TEXT", "TEXT"),
    ("gameday_run", "TEXT", "TEXT"),
    ("host", "TEXT", "TEXT"),
    ("version", "TEXT", "TEXT"),
)
NAMES = tuple(c[0] for c in _COLUMNS)


class History(Protocol):
    """A run history; ``runs`` come newest first."""

    url: str

    def add(self, record: RunRecord) -> None: ...

    def runs(self, *, experiment: str | None = None, gameday: str | None = None,
             limit: int | None = None) -> list[RunRecord]: ...

    def experiments(self) -> list[str]: ...

    def close(self) -> None: ...


def history_url(state_dir: str | Path, env: Mapping[str, str] | None = None) -> str | None:
    """The history database for runs under ``state_dir``, or None when recording is off."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if not value:
        return "sqlite:///" + str((Path(state_dir) / HISTORY_FILE).resolve()).lstrip("/")
    if re.match(r"^[a-z][a-z0-9+.-]*://", value) and not value.startswith(("sqlite://", "postgres")):
        raise HistoryError(f"{ENV}: unsupported database URL {redact(value)!r} (sqlite:/// or postgresql://)",
                           url=redact(value))
    return value if "://" in value else "sqlite:///" + str(Path(value).resolve()).lstrip("/")


def open_history(url: str) -> History:
    """Open (creating the table if needed) the history at ``url``; :class:`HistoryError` if it cannot be."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresHistory(url)
    if url.startswith("sqlite:///"):
        return SqliteHistory(Path("/" + url.removeprefix("sqlite:///")))
    raise HistoryError(f"unsupported history URL {redact(url)!r}", url=redact(url))


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


class _SqlHistory:
    """SQL shared by both databases; ``_param`` is the driver's placeholder."""

    url: str
    _param = "?"

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._param)

    def add(self, record: RunRecord) -> None:
        row = record.to_json()
        values = [json.dumps(row[n], default=str) if n in ("verdicts", "faults") else row.get(n) for n in NAMES]
        updates = ", ".join(f"{n} = excluded.{n}" for n in NAMES[1:])
        marks = ", ".join("?" for _ in NAMES)
        self._execute(self._sql(f"INSERT INTO {TABLE} ({', '.join(NAMES)}) VALUES ({marks}) "
                                f"ON CONFLICT (run_id) DO UPDATE SET {updates}"), values)

    def runs(self, *, experiment: str | None = None, gameday: str | None = None,
             limit: int | None = None) -> list[RunRecord]:
        where, args = [], []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if gameday is not None:
            where.append("gameday = ?")
            args.append(gameday)
        sql = f"SELECT {', '.join(NAMES)} FROM {TABLE}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [RunRecord.from_row(dict(zip(NAMES, row, strict=True))) for row in self._execute(self._sql(sql), args)]

    def experiments(self) -> list[str]:
        rows = self._execute(f"SELECT experiment, MAX(started_at) AS latest FROM {TABLE} GROUP BY experiment "
                             "ORDER BY latest DESC")
        return [str(r[0]) for r in rows]


class SqliteHistory(_SqlHistory):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = "sqlite:///" + str(path).lstrip("/")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # runs of a parallel game-day step write at the same time: WAL and a generous busy timeout
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            columns = ", ".join(f"{name} {kind}" for name, kind, _ in _COLUMNS)
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_by_experiment ON {TABLE} (experiment, started_at)")
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history {path}: {exc}", url=self.url) from exc

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._db.execute(sql, tuple(args)).fetchall())
        except sqlite3.Error as exc:
            raise HistoryError(f"history {self.path}: {exc}", url=self.url) from exc

    def close(self) -> None:
        self._db.close()


class PostgresHistory(_SqlHistory):
    _param = "%s"

    def __init__(self, url: str) -> None:
        self.url = redact(url)
        try:
            import psycopg
        except ImportError:
            raise HistoryError("a PostgreSQL history needs psycopg: pip install 'chaoskit[postgres]'",
                               url=self.url) from None
        self._errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise HistoryError(f"cannot connect to the history {self.url}: {exc}", url=self.url) from exc
        columns = ", ".join(f"{name} {kind}" for name, _, kind in _COLUMNS)
        for statement in (f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})",
                          f"CREATE INDEX IF NOT EXISTS {TABLE}_by_experiment ON {TABLE} (experiment, started_at)"):
            try:
                self._execute(statement)
            except HistoryError:  # two first runs at once: one of them created it
                self._execute(statement)

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._db.cursor() as cursor:
                cursor.execute(sql.encode(), list(args))  # bytes: the text is ours, never a user's
                return list(cursor.fetchall()) if cursor.description else []
        except self._errors as exc:
            raise HistoryError(f"history {self.url}: {exc}", url=self.url) from exc

    def add(self, record: RunRecord) -> None:
        if record.recovered is not None:  # BOOLEAN, where SQLite keeps 0/1
            record = RunRecord(**{**record.__dict__, "recovered": bool(record.recovered)})
        super().add(record)

    def close(self) -> None:
        self._db.close()
