"""The ``command`` probe: run a program; ok when it exits with the expected code, printing the expected text.

The program runs without a shell unless ``shell: true`` is given explicitly, in its own process group, and the
whole group is killed when the timeout passes or the run stops, so nothing it started outlives the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Mapping, Sequence

from chaoskit.errors import ProbeError
from chaoskit.probes._common import seconds
from chaoskit.probes.specs import CommandProbeSpec
from chaoskit.registry import Observation, Probe

SHELL = "/bin/sh"
_REAP_TIMEOUT = 5.0
_DETAIL_OUTPUT = 160


class CommandProbe(Probe):
    """Run ``argv`` per :meth:`observe`; a string runs via ``/bin/sh -c``, only with ``shell=True``."""

    def __init__(
        self,
        argv: Sequence[str] | str,
        *,
        timeout: float = 5.0,
        shell: bool = False,
        exit_code: int = 0,
        stdout_contains: str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(argv, str) != shell:
            raise ProbeError("give a string command with shell=True, an argv list otherwise", probe=name)
        self.argv = [SHELL, "-c", argv] if isinstance(argv, str) else list(argv)
        if not self.argv:
            raise ProbeError("a command probe needs a program to run", probe=name)
        self.timeout = timeout
        self.exit_code = exit_code
        self.stdout_contains = stdout_contains
        self.cwd = cwd
        self.env = {**os.environ, **env} if env else None

    @classmethod
    def from_spec(cls, spec: CommandProbeSpec) -> CommandProbe:
        program = SHELL if spec.shell else spec.command[0]
        if "/" not in program and shutil.which(program) is None:
            raise ProbeError(f"probe {spec.name!r}: command {program!r} is not on PATH", probe=spec.name)
        return cls(
            spec.command,
            timeout=spec.timeout,
            shell=spec.shell,
            exit_code=spec.exit_code,
            stdout_contains=spec.stdout_contains,
            cwd=spec.cwd,
            env=spec.env,
            name=spec.name,
        )

    async def observe(self) -> Observation:
        started = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else getattr(exc, "strerror", None) or str(exc)
            return Observation(False, time.perf_counter() - started, f"cannot run {self.argv[0]!r}: {reason}")
        try:
            async with asyncio.timeout(self.timeout):
                stdout, stderr = await proc.communicate()
        except TimeoutError:
            await _kill_group(proc)
            return Observation(
                False, time.perf_counter() - started, f"timed out after {seconds(self.timeout)} (killed)"
            )
        finally:
            if proc.returncode is None:  # cancelled: the run is stopping
                await asyncio.shield(_kill_group(proc))
        return self._judge(proc.returncode, stdout, stderr, time.perf_counter() - started)

    def _judge(self, code: int | None, stdout: bytes, stderr: bytes, latency: float) -> Observation:
        if code != self.exit_code:
            reason = f"exit {code} (expected {self.exit_code})"
            if code is not None and code < 0:
                reason = f"killed by {_signal_name(-code)} (expected exit {self.exit_code})"
            tail = _last_line(stderr) or _last_line(stdout)
            return Observation(False, latency, f"{reason}: {tail}" if tail else reason)
        if self.stdout_contains is not None and self.stdout_contains not in stdout.decode("utf-8", "replace"):
            return Observation(False, latency, f"exit {code}, stdout lacks {self.stdout_contains!r}")
        return Observation(True, latency, f"exit {code}")


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the probe's whole process group, then reap the leader (bounded)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError, ProcessLookupError):
        async with asyncio.timeout(_REAP_TIMEOUT):
            await proc.wait()


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:_DETAIL_OUTPUT] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
