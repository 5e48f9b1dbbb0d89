"""Resource faults: ``stress.cpu``, ``stress.memory`` and ``stress.disk`` on the host, a local process or a container.

Each runs chaoskit's hog (:mod:`chaoskit.faults.hog`) for the fault's duration. Against a process or a container
the hog first joins that target's cgroups (cgroup v1 or v2, found at run time), so the target's own CPU and memory
limits apply to the hog, as Pumba's ``--inject-cgroup`` and Chaos Mesh do with stress-ng; a container is attached
from outside, so any image works, even one without a shell. The hog ends by itself ``margin`` after the duration
(and as soon as the runner is gone), the ledger records its tag and cgroups, and a revert is verified: no hog PID is
left in the target's cgroups. See ``docs/resources.md``.

This module holds the kinds' experiment models and registers them; the faults (process handling, cgroups, Docker)
live in :mod:`chaoskit.faults._stress`, imported only when a run creates, restores or previews one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, model_validator

from chaoskit.experiment.model import Experiment, FaultSpec, Name, Problem, Strict
from chaoskit.experiment.units import Duration, Fraction
from chaoskit.faults.container import ContainerSelector
from chaoskit.faults.process import target_process_problems
from chaoskit.plugins import hookimpl
from chaoskit.registry import FaultKind, Registry, lazy

_IMPL = "chaoskit.faults._stress"

# ------------------------------------------------------------------------------------------------------ sizes

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class Amount:
    """A size in bytes, or a share (``fraction``) of something the fault kind names (a limit, free space)."""

    bytes: int | None
    fraction: float | None
    text: str

    def __str__(self) -> str:
        return self.text


def parse_amount(value: object) -> Amount:
    """``"200MB"`` (SI: kB, MB, GB), ``"1.5GiB"`` (IEC: KiB, MiB, GiB), a number of bytes, or ``"80%"``."""
    if isinstance(value, Amount):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a size such as 200MB or 1GiB, or a percentage such as 50%")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"a size must be more than 0 bytes, got {value}")
        return Amount(value, None, str(value))
    if isinstance(value, str) and (m := _PERCENT_RE.match(value)):
        fraction = float(m.group(1)) / 100
        if not 0 < fraction <= 1:
            raise ValueError(f"a percentage must lie above 0% and at most 100%, got {value.strip()!r}")
        return Amount(None, fraction, value.strip())
    if isinstance(value, str) and (m := _SIZE_RE.match(value)):
        unit = m.group(2).lower()
        if unit not in _UNITS:
            raise ValueError(
                f"unknown size unit {m.group(2)!r} in {value.strip()!r}; use B, kB, MB, GB (powers of 1000) or "
                "KiB, MiB, GiB (powers of 1024)"
            )
        size = int(float(m.group(1)) * _UNITS[unit])
        if size <= 0:
            raise ValueError(f"a size must be more than 0 bytes, got {value.strip()!r}")
        return Amount(size, None, value.strip())
    raise ValueError(f"expected a size such as 200MB or 1GiB, or a percentage such as 50%, got {value!r}")


Size = Annotated[
    Amount,
    BeforeValidator(parse_amount),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$"},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "Bytes (200MB, 1.5GiB, 1000000) or a percentage (50%).",
        }
    ),
]

# ----------------------------------------------------------------------------------------------------- target

_PROCESS_KEYS = ("process", "pid", "pidfile", "match")


def _container_name(value: object) -> object:
    # `container: shop-api-1` is short for `container: {name: shop-api-1}`
    return {"name": value} if isinstance(value, str) else value


class StressTarget(Strict):
    """Where the hog runs: exactly one of ``host``, a process (``process``, ``pid``, ``pidfile``, ``match``) or a
    ``container``. A process's or container's cgroups are joined, so its limits apply to the hog."""

    host: bool = Field(False, description="The machine itself; the hog stays in chaoskit's own cgroups.")
    process: Name | None = Field(None, description="A process from target.processes.")
    pid: int | None = Field(None, gt=1)
    pidfile: str | None = None
    match: str | None = Field(None, description="Regular expression searched in /proc/<pid>/cmdline.")
    container: Annotated[ContainerSelector | None, BeforeValidator(_container_name)] = Field(
        None,
        description="Docker containers: a name, or a selector as for container faults (name glob, labels, compose "
        "project and service, count or percent). Needs the docker extra.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> StressTarget:
        given = [k for k in ("host", *_PROCESS_KEYS, "container") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of host, process, pid, pidfile, match or container")
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"match is not a valid regular expression: {exc}") from None
        return self

    def describe(self) -> str:
        if self.container is not None:
            return f"containers with {self.container.describe()}"
        for key in _PROCESS_KEYS:
            value = getattr(self, key)
            if value is not None:
                return f"{key} {value}"
        return "host"


class HogParams(Strict):
    margin: Duration = Field(
        5.0, description="The hog ends by itself this long after the duration, even if the runner is killed."
    )


class CpuParams(HogParams):
    workers: int = Field(1, ge=1, le=1024, description="Worker processes, each loading one core.")
    load: Fraction = Field(1.0, gt=0, description="Share of one core each worker keeps busy, e.g. 50%.")


class MemoryParams(HogParams):
    size: Size = Field(
        description="Bytes to allocate and touch (200MB, 1GiB), or a share of the target's memory "
        "limit (80%; the machine's memory when the target has none)."
    )
    oom_score_adj: int = Field(
        1000,
        ge=-1000,
        le=1000,
        description="The hog's OOM score adjustment: 1000 makes it the OOM killer's first victim, so the target "
        "is spared; -1000 protects the hog instead.",
    )


class DiskParams(HogParams):
    size: Size = Field(description="Bytes to take (1GB), or a share of the space free at injection (90%).")
    path: str = Field("/tmp", description="A directory on the filesystem to fill, as the target sees it.")


class StressSpec(FaultSpec):
    """Base of the resource fault kinds."""

    target: StressTarget

    def problems(self, experiment: Experiment) -> list[Problem]:
        return target_process_problems(self.target.process, experiment)


class StressCpuSpec(StressSpec):
    """Keep ``workers`` processes busy at ``load`` of one core each (duty-cycled) for ``duration``."""

    type: Literal["stress.cpu"]
    params: CpuParams = Field(default_factory=CpuParams)


class StressMemorySpec(StressSpec):
    """Allocate, touch and hold ``size`` of memory for ``duration``."""

    type: Literal["stress.memory"]
    params: MemoryParams


class StressDiskSpec(StressSpec):
    """Take ``size`` of a filesystem's space (a nameless file, freed when the hog ends) for ``duration``."""

    type: Literal["stress.disk"]
    params: DiskParams


# ---------------------------------------------------------------------------------------------- registration


def _preview(spec: FaultSpec, experiment: Experiment) -> list[str]:
    from chaoskit.faults import _stress

    return _stress.preview(spec, experiment)


@hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    for name, spec, summary in (
        ("stress.cpu", StressCpuSpec, "Load CPU cores (host, a process's or a container's cgroup)."),
        ("stress.memory", StressMemorySpec, "Allocate and hold memory (host, a process's or a container's cgroup)."),
        ("stress.disk", StressDiskSpec, "Fill a filesystem (host, a process's or a container's root)."),
    ):
        register.add_fault(FaultKind(name, spec, lazy(f"{_IMPL}:create"), lazy(f"{_IMPL}:restore"), summary, _preview))
