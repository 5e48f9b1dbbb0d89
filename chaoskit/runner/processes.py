"""Target processes a run starts, watches for readiness, restarts after ``process.kill``, and stops at teardown.

Each process gets its own session (``start_new_session``) so a signal aimed at it never reaches the runner, and
so it survives the runner being SIGKILLed (``chaoskit recover`` can then still undo a fault on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.errors import TargetError
from chaoskit.experiment.model import ProcessTarget, ReadyCheck, parse_host_port
from chaoskit.registry import Probe


def process_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/<pid>/stat`` (R, S, T, Z, ...), or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: the state follows the last ')'
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else None


def is_alive(pid: int) -> bool:
    state = process_state(pid)
    return state is not None and state not in ("Z", "X")


def spawn_detached(argv: list[str], *, cwd: str | Path | None, env: dict[str, str], log: Path | None) -> int:
    """Start ``argv`` in its own session with output going to ``log``; returns its pid."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise TargetError(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
    finally:
        if log is not None and not isinstance(out, int):
            out.close()
    return proc.pid


def readiness_probe(check: ReadyCheck) -> Probe:
    """The probe that implements a ``ready:`` check."""
    from chaoskit.probes.command import CommandProbe
    from chaoskit.probes.http import HttpProbe
    from chaoskit.probes.tcp import TcpProbe

    attempt = min(check.timeout, 2.0)
    if check.http is not None:
        return HttpProbe(check.http, timeout=attempt)
    if check.tcp is not None:
        host, port = parse_host_port(check.tcp)
        return TcpProbe(host, port, timeout=attempt)
    assert check.command is not None
    return CommandProbe(list(check.command), timeout=attempt)


@dataclass
class ManagedProcess:
    """A target process started by this run."""

    spec: ProcessTarget
    cwd: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def argv(self) -> list[str]:
        # "python" in a command means the interpreter running chaoskit, so targets need no PATH games
        first = self.spec.command[0]
        return [sys.executable if first in ("python", "python3") else first, *self.spec.command[1:]]

    def running(self) -> bool:
        if self.popen is None:
            return False
        self.popen.poll()
        return self.popen.returncode is None and is_alive(self.popen.pid)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env={**os.environ, **self.env, **self.spec.env},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise TargetError(
                    f"target {self.name}: cannot start {self.argv[0]!r}: {exc.strerror}", target=self.name
                ) from exc

    async def wait_ready(self) -> float:
        """Wait for the readiness check; returns the seconds it took. Raises TargetError on timeout or exit."""
        began = time.monotonic()
        check = self.spec.ready
        if check is None:
            await asyncio.sleep(0.05)
            if not self.running():
                raise TargetError(f"target {self.name} exited at start; see {self.log}", target=self.name)
            return time.monotonic() - began
        probe = readiness_probe(check)
        last = ""
        while time.monotonic() - began < check.timeout:
            if not self.running():
                raise TargetError(
                    f"target {self.name} exited with code {self.popen.returncode if self.popen else '?'} "
                    f"before it was ready; see {self.log}",
                    target=self.name,
                )
            observation = await probe.observe()
            if observation.ok:
                return time.monotonic() - began
            last = observation.detail
            await asyncio.sleep(check.interval)
        raise TargetError(
            f"target {self.name} was not ready after {check.timeout:g}s ({last or 'no answer'}); see {self.log}",
            target=self.name,
        )

    async def stop(self) -> None:
        """SIGCONT (in case a fault stopped it), SIGTERM, then SIGKILL after ``stop_timeout``; whole group."""
        if self.popen is None:
            return
        pid = self.popen.pid
        for sig in (signal.SIGCONT, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + self.spec.stop_timeout
        while time.monotonic() < deadline and self.popen.poll() is None:
            await asyncio.sleep(0.02)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.popen.wait, 5)


class ProcessGroup:
    """The target processes of one run, by name."""

    def __init__(self, specs: list[ProcessTarget], *, base_dir: Path, log_dir: Path) -> None:
        self._procs = {
            spec.name: ManagedProcess(
                spec,
                cwd=(base_dir / spec.cwd) if spec.cwd else base_dir,
                log=log_dir / f"{spec.name}.log",
                env={"PYTHONPATH": _pythonpath(base_dir)},
            )
            for spec in specs
        }

    def __iter__(self) -> Iterator[ManagedProcess]:
        return iter(self._procs.values())

    def __len__(self) -> int:
        return len(self._procs)

    def get(self, name: str) -> ManagedProcess | None:
        return self._procs.get(name)

    async def start_all(self) -> dict[str, float]:
        """Start every process in order, each ready before the next starts; returns readiness seconds."""
        took: dict[str, float] = {}
        for proc in self._procs.values():
            proc.start()
            took[proc.name] = await proc.wait_ready()
        return took

    async def stop_all(self) -> None:
        for proc in reversed(list(self._procs.values())):
            await proc.stop()


def _pythonpath(base_dir: Path) -> str:
    # targets are importable from the experiment's project (e.g. `python -m targets.shop.api`)
    roots = [str(p) for p in (base_dir, base_dir.parent, Path.cwd())]
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*roots, existing] if existing else roots)
