"""The process faults themselves: ``process.stop`` and ``process.kill`` on local processes.

Their experiment models and registration are in :mod:`chaoskit.faults.process`; this module (asyncio, process
handling) is imported only when a fault is created, restored or previewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.errors import FaultError, RevertError
from chaoskit.faults.process import ProcessKillSpec, ProcessSelector, ProcessStopSpec, parse_signal
from chaoskit.registry import Fault
from chaoskit.runner.processes import is_alive, process_state, spawn_detached

if TYPE_CHECKING:
    from chaoskit.experiment.model import FaultSpec
    from chaoskit.runner.context import RunContext
    from chaoskit.runner.processes import ManagedProcess


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return int(fh.read().rsplit(")", 1)[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _same_process(pid: int, started: int | None) -> bool:
    return is_alive(pid) and (started is None or start_time(pid) == started)


def resolve(selector: ProcessSelector, ctx: RunContext | None) -> list[tuple[int, str, ManagedProcess | None]]:
    """(pid, label, managed handle) for each process the selector names; FaultError if none."""
    if selector.process is not None:
        managed = ctx.processes.get(selector.process) if ctx is not None else None
        if managed is None or managed.pid is None or not managed.running():
            raise FaultError(f"target process {selector.process!r} is not running", target=selector.process)
        return [(managed.pid, f"process {managed.name} (pid {managed.pid})", managed)]
    if selector.pid is not None:
        if not is_alive(selector.pid):
            raise FaultError(f"no running process with pid {selector.pid}", target=str(selector.pid))
        return [(selector.pid, f"pid {selector.pid}", None)]
    if selector.pidfile is not None:
        path = ctx.resolve_path(selector.pidfile) if ctx is not None else Path(selector.pidfile)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise FaultError(f"cannot read a pid from {path}: {exc}", target=str(path)) from exc
        if not is_alive(pid):
            raise FaultError(f"pid {pid} from {path} is not running", target=str(path))
        return [(pid, f"pid {pid} (from {path})", None)]
    assert selector.match is not None
    pattern = re.compile(selector.match)
    found: list[tuple[int, str, ManagedProcess | None]] = [
        (pid, f"pid {pid} ({cmd[:60]})", None) for pid, cmd in _cmdlines() if pattern.search(cmd)
    ]
    if not found:
        raise FaultError(f"no running process matches {selector.match!r}", target=selector.match)
    return found


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None


def _cmdlines() -> list[tuple[int, str]]:
    own = {os.getpid(), os.getppid()}
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if raw and is_alive(int(entry)):
            out.append((int(entry), raw.replace(b"\0", b" ").decode(errors="replace").strip()))
    return out


# ------------------------------------------------------------------------------------------------ process.stop


class ProcessStop(Fault):
    kind = "process.stop"

    def __init__(self, pid: int, label: str, started: int | None) -> None:
        self.pid, self.label, self.started = pid, label, started

    @property
    def target(self) -> str:
        return self.label

    def undo(self) -> dict[str, Any]:
        return {"pid": self.pid, "label": self.label, "started": self.started}

    async def inject(self) -> None:
        if not _same_process(self.pid, self.started):
            raise FaultError(f"{self.label} is gone", target=self.label)
        os.kill(self.pid, signal.SIGSTOP)
        for _ in range(100):
            if process_state(self.pid) == "T":
                return
            await asyncio.sleep(0.01)
        raise FaultError(f"{self.label} did not stop after SIGSTOP", target=self.label)

    async def revert(self) -> None:
        if _same_process(self.pid, self.started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)

    async def verify_reverted(self) -> None:
        for _ in range(100):
            if not _same_process(self.pid, self.started) or process_state(self.pid) != "T":
                return
            await asyncio.sleep(0.01)
        raise RevertError(f"{self.label} is still stopped after SIGCONT", target=self.label)


def create_stop(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, ProcessStopSpec)
    return [ProcessStop(pid, label, start_time(pid)) for pid, label, _ in resolve(spec.target, ctx)]


def restore_stop(undo: Mapping[str, Any]) -> Fault:
    return ProcessStop(int(undo["pid"]), str(undo["label"]), undo.get("started"))


# ------------------------------------------------------------------------------------------------ process.kill


class ProcessKill(Fault):
    """Signal a process; on revert bring it back (``restart: chaoskit``), check that something else did
    (``supervisor``: a new process with the same command line), or leave it (``none``)."""

    kind = "process.kill"

    def __init__(
        self,
        pid: int,
        label: str,
        started: int | None,
        *,
        sig: signal.Signals,
        restart: str,
        command: list[str] | None = None,
        cwd: str | None = None,
        managed: ManagedProcess | None = None,
        wait_restart: float = 30.0,
    ) -> None:
        self.pid, self.label, self.started, self.sig = pid, label, started, sig
        self.restart, self.command, self.cwd, self.managed = restart, command, cwd, managed
        self.wait_restart = wait_restart

    @property
    def target(self) -> str:
        return self.label

    def undo(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "label": self.label,
            "started": self.started,
            "signal": self.sig.name,
            "restart": self.restart,
            "command": self.command,
            "cwd": self.cwd,
        }

    async def inject(self) -> None:
        if not _same_process(self.pid, self.started):
            raise FaultError(f"{self.label} is gone", target=self.label)
        os.kill(self.pid, self.sig)

    def _replacement_running(self) -> bool:
        """A live process with the original command line that is not the one we signalled."""
        if self.managed is not None:
            return self.managed.running()
        wanted = " ".join(self.command or [])
        return bool(wanted) and any(
            cmd == wanted and not (pid == self.pid and start_time(pid) == self.started) for pid, cmd in _cmdlines()
        )

    async def revert(self) -> None:
        if self.restart != "chaoskit" or _same_process(self.pid, self.started) or self._replacement_running():
            return
        if self.managed is not None:
            self.managed.restarts += 1
            self.managed.start()
            await self.managed.wait_ready()
        elif self.command:
            spawn_detached(self.command, cwd=self.cwd, env={}, log=None)

    async def verify_reverted(self) -> None:
        if self.restart == "none":
            return
        deadline = time.monotonic() + self.wait_restart
        while time.monotonic() < deadline:
            if self._replacement_running() or _same_process(self.pid, self.started):
                return
            await asyncio.sleep(0.05)
        how = "chaoskit restarted it" if self.restart == "chaoskit" else "its supervisor restarted it"
        raise RevertError(f"{self.label} is not running again ({how}?) after {self.wait_restart:g}s",
                          target=self.label)


def create_kill(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, ProcessKillSpec)
    faults: list[Fault] = []
    for pid, label, managed in resolve(spec.target, ctx):
        command = spec.params.command or (managed.argv if managed is not None else _cmdline(pid))
        faults.append(
            ProcessKill(
                pid,
                label,
                start_time(pid),
                sig=parse_signal(spec.params.signal),
                restart=spec.params.restart,
                command=command,
                cwd=str(managed.cwd) if managed is not None else str(ctx.base_dir),
                managed=managed,
                wait_restart=max(ctx.experiment.phases.recovery, 5.0),
            )
        )
    return faults


def restore_kill(undo: Mapping[str, Any]) -> Fault:
    return ProcessKill(
        int(undo["pid"]),
        str(undo["label"]),
        undo.get("started"),
        sig=parse_signal(undo.get("signal", "SIGKILL")),
        restart=str(undo.get("restart", "none")),
        command=undo.get("command"),
        cwd=undo.get("cwd"),
    )
