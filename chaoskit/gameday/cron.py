"""Cron slots in a time zone, computed by cronsim (the cron semantics of Debian's cron, DST included).

Five fields as in crontab, the ``@daily``-style shorthands, or six fields with seconds first (``*/30 * * * * *``,
cronsim's extension: for soak schedules and tests; six-field expressions skip Debian's DST adjustments).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

# cronsim reads five (or six) fields; these shorthands of Vixie cron are spelled out for it.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def expand(expression: str) -> str:
    return MACROS.get(expression.strip().lower(), expression.strip())


def check_cron(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it."""
    text = expand(expression)
    if len(text.split()) not in (5, 6):
        raise ValueError("a cron expression has five fields (minute hour day month weekday), or six with seconds "
                         f"first, got {expression!r}")
    try:
        CronSim(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
    return expression


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or UTC)") from None
    return name


def slots_after(expression: str, timezone: str, after: float) -> Iterator[dt.datetime]:
    """Every slot strictly after the Unix time ``after``, as aware datetimes in ``timezone``, in order."""
    start = dt.datetime.fromtimestamp(after, ZoneInfo(timezone))
    return iter(CronSim(expand(expression), start))


def next_slot(expression: str, timezone: str, after: float) -> dt.datetime:
    return next(slots_after(expression, timezone, after))


def slots_between(expression: str, timezone: str, after: float, until: float, limit: int) -> list[dt.datetime]:
    """Slots in ``(after, until]``, the first ``limit`` of them."""
    out: list[dt.datetime] = []
    for slot in slots_after(expression, timezone, after):
        if slot.timestamp() > until or len(out) >= limit:
            break
        out.append(slot)
    return out


def explain(expression: str) -> str:
    """Plain words for the expression ("At 09:00 on Monday")."""
    try:
        return CronSim(expand(expression), dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).explain()
    except Exception:  # explain() is best effort; the expression itself was checked when loading
        return expression
