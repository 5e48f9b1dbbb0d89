"""``process.stop`` (SIGSTOP/SIGCONT) and ``process.kill`` (a signal, then a restart) on local processes.

A process is identified by pid *and* its kernel start time, so a revert after a crash never signals an
unrelated process that reused the pid.

This module holds the kinds' experiment models and registers them; the faults themselves (asyncio, process
handling) live in :mod:`chaoskit.faults._process`, imported when they are used, so ``chaoskit validate`` never
loads them.
"""

from __future__ import annotations

import difflib
import re
import signal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaoskit import _lazy
from chaoskit.errors import FaultError
from chaoskit.experiment.model import Experiment, FaultSpec, Name, Problem, Strict
from chaoskit.plugins import hookimpl
from chaoskit.registry import FaultKind, Registry, lazy

_IMPL = "chaoskit.faults._process"


class ProcessSelector(Strict):
    """Which process: exactly one of a target ``process`` name, a ``pid``, a ``pidfile`` or a cmdline ``match``."""

    process: Name | None = Field(None, description="A process from target.processes.")
    pid: int | None = Field(None, gt=1)
    pidfile: str | None = None
    match: str | None = Field(None, description="Regular expression searched in /proc/<pid>/cmdline.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ProcessSelector:
        given = [k for k in ("process", "pid", "pidfile", "match") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of process, pid, pidfile or match")
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"match is not a valid regular expression: {exc}") from None
        return self


def target_process_problems(name: str | None, experiment: Experiment) -> list[Problem]:
    """``target.process`` must name one of ``target.processes`` (with a did-you-mean when it does not)."""
    known = [p.name for p in experiment.target.processes]
    if name is None or name in known:
        return []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else (
        f"declared processes: {', '.join(known)}" if known else "declare it under target.processes"
    )
    return [(("target", "process"), f"no target process named {name!r}", hint)]


class ProcessStopSpec(FaultSpec):
    """Freeze a process with SIGSTOP for ``duration``, then SIGCONT."""

    type: Literal["process.stop"]
    target: ProcessSelector

    def problems(self, experiment: Experiment) -> list[Problem]:
        return target_process_problems(self.target.process, experiment)


class KillParams(Strict):
    signal: str = Field("SIGKILL", description="Signal name (SIGKILL, SIGTERM, ...) or number.")
    restart: Literal["chaoskit", "supervisor", "none"] = Field(
        "chaoskit",
        description="After the duration: chaoskit restarts the process (target processes, or `command`), "
        "a supervisor is expected to have restarted it (verified), or nothing.",
    )
    command: list[str] | None = Field(
        None, min_length=1, description="argv to restart a process chaoskit did not start."
    )

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        parse_signal(value)
        return value


class ProcessKillSpec(FaultSpec):
    """Send a signal (SIGKILL by default); after ``duration`` the process is brought back or checked."""

    type: Literal["process.kill"]
    target: ProcessSelector
    params: KillParams = Field(default_factory=KillParams)

    def problems(self, experiment: Experiment) -> list[Problem]:
        out = target_process_problems(self.target.process, experiment)
        if self.params.restart == "chaoskit" and self.target.process is None and self.params.command is None:
            out.append(
                (("params", "restart"), "chaoskit can only restart target processes",
                 "give params.command, or use restart: supervisor / none")
            )
        return out


def parse_signal(value: str | int) -> signal.Signals:
    text = str(value).strip().upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text))
        return signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except (KeyError, ValueError):
        raise ValueError(f"unknown signal {value!r}; use a name such as SIGKILL or SIGTERM") from None


# ---------------------------------------------------------------------------------------------- registration


def _preview(spec: FaultSpec, experiment: Experiment) -> list[str]:
    selector: ProcessSelector = spec.target  # type: ignore[attr-defined]
    if selector.process is not None:
        return [f"target process {selector.process} (started by the run)"]
    from chaoskit.faults._process import resolve

    try:
        return [label for _, label, _ in resolve(selector, None)]
    except FaultError as exc:
        return [f"nothing yet: {exc}"]


@hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    for name, spec, verb, summary in (
        ("process.stop", ProcessStopSpec, "stop", "Freeze a process (SIGSTOP/SIGCONT)."),
        ("process.kill", ProcessKillSpec, "kill", "Signal a process, then restart it."),
    ):
        create, restore = lazy(f"{_IMPL}:create_{verb}"), lazy(f"{_IMPL}:restore_{verb}")
        register.add_fault(FaultKind(name, spec, create, restore, summary, _preview))


__getattr__ = _lazy.forward(__name__, _IMPL)
