"""Explicit rollbacks: commands an experiment asks to run at teardown, whatever the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from chaoskit.experiment.model import Rollback


async def run_rollback(rollback: Rollback, *, base_dir: Path) -> str | None:
    """Run one rollback; returns None on success or what went wrong."""
    cwd = base_dir / rollback.cwd if rollback.cwd else base_dir
    try:
        proc = await asyncio.create_subprocess_exec(
            *rollback.command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot start {rollback.command[0]!r}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=rollback.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return f"timed out after {rollback.timeout:g}s"
    if proc.returncode != 0:
        tail = out.decode(errors="replace").strip().splitlines()[-1:] if out else []
        return f"exit code {proc.returncode}" + (f": {tail[0]}" if tail else "")
    return None


async def run_rollbacks(rollbacks: list[Rollback], *, base_dir: Path) -> list[tuple[str, str]]:
    """Run every rollback in order (one failing does not skip the others); returns (name, error) failures."""
    failures = []
    for rollback in rollbacks:
        error = await run_rollback(rollback, base_dir=base_dir)
        if error is not None:
            failures.append((rollback.name, error))
    return failures
