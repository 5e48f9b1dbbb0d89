"""Small helpers the probe kinds share: how durations and socket errors read in an observation's detail."""

from __future__ import annotations

import asyncio


def seconds(value: float) -> str:
    """``0.5`` -> ``"0.5s"``: short, and exact to the millisecond."""
    return f"{round(value, 3):g}s"


def describe_error(exc: BaseException) -> str:
    """A short lower-case reason for a failed connection or exchange, e.g. ``"connection refused"``."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed early"
    if isinstance(exc, asyncio.LimitOverrunError):
        return "answer too large"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__
