"""Typed registries that plugins fill through the ``chaoskit_register_*`` hooks.

A plugin never returns values from a registry hook; it calls ``register.add_fault(...)`` and friends, as tox 4
does with ``tox_register_tox_env``. Registering a kind name twice is a :class:`~chaoskit.errors.PluginError`.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from chaoskit.errors import PluginError

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment, FaultSpec, ProbeSpec
    from chaoskit.runner.context import RunContext
    from chaoskit.runner.result import RunResult
    from chaoskit.slo.window import Window


# ------------------------------------------------------------------------------------------------------ faults


class Fault(abc.ABC):
    """One injection of a fault kind against one resolved target.

    The runner calls :meth:`inject` only after the ledger holds :meth:`undo`; :meth:`revert` must be idempotent
    and safe to call when :meth:`inject` failed half-way; :meth:`verify_reverted` raises
    :class:`~chaoskit.errors.RevertError` when the fault is still in place.
    """

    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """A human label of what this fault hits, e.g. ``"process store (pid 4242)"``."""

    @abc.abstractmethod
    def undo(self) -> dict[str, Any]:
        """JSON that :meth:`FaultKind.restore` turns back into this fault, for ``chaoskit recover``."""

    @abc.abstractmethod
    async def inject(self) -> None: ...

    @abc.abstractmethod
    async def revert(self) -> None: ...

    @abc.abstractmethod
    async def verify_reverted(self) -> None: ...

    def observations(self) -> dict[str, Any]:
        """What the fault saw of its target, read after a verified revert (e.g. how long a restart policy took
        to bring a killed container back, when its health check passed). It lands on the fault's record, in the
        journal and in reports. A ``"finding"`` entry is a resilience finding (the target did not come back as
        it should) and makes the run FAILED."""
        return {}


@dataclass(frozen=True)
class FaultKind:
    """A registered fault type.

    :param spec: the experiment model of this kind, a :class:`FaultSpec` subclass with ``type: Literal[name]``.
    :param create: resolve a spec against the running experiment into one or more faults (raise FaultError
        when the target does not exist).
    :param restore: rebuild a fault from its ledger ``undo`` record, with no run around it.
    :param preview: for ``chaoskit plan``: what the spec would hit right now, read-only (never touches it).
    """

    name: str
    spec: type[FaultSpec]
    create: Callable[[FaultSpec, RunContext], list[Fault]]
    restore: Callable[[Mapping[str, Any]], Fault]
    summary: str = ""
    preview: Callable[[FaultSpec, Experiment], list[str]] | None = None


# ------------------------------------------------------------------------------------------------------ probes


@dataclass(frozen=True)
class Observation:
    """The outcome of one probe call."""

    ok: bool
    latency: float
    detail: str = ""


class Probe(abc.ABC):
    """A periodic check; each :meth:`observe` call becomes a one-request window named after the probe."""

    @abc.abstractmethod
    async def observe(self) -> Observation:
        """Run the check once; never raise for a failed check (return ``ok=False`` with a detail)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources at the end of the run."""


@dataclass(frozen=True)
class ProbeKind:
    name: str
    spec: type[ProbeSpec]
    create: Callable[[ProbeSpec], Probe]
    summary: str = ""


# ------------------------------------------------------------------------------------------- load generators


class LoadGenerator(abc.ABC):
    """Drives traffic for the whole run and yields windows as they close."""

    @abc.abstractmethod
    def windows(self) -> AsyncIterator[Window]:
        """Start the load and yield its windows until :meth:`stop` is called."""

    @abc.abstractmethod
    async def stop(self) -> None: ...


@dataclass(frozen=True)
class LoadGeneratorKind:
    name: str
    create: Callable[[Experiment, RunContext], LoadGenerator]
    summary: str = ""


# ------------------------------------------------------------------------------------------------- reporters


@dataclass(frozen=True)
class ReporterKind:
    """Renders a finished run; ``render(result, events)`` returns the file's text."""

    name: str
    suffix: str
    render: Callable[[RunResult, list[dict[str, Any]]], str]
    summary: str = ""


# ------------------------------------------------------------------------------------------- lazy functions


def lazy(target: str) -> Callable[..., Any]:
    """A function that imports ``"package.module:function"`` on its first call and forwards to it.

    Kind modules register with these so that building a plugin manager (every ``chaoskit validate``) imports only
    the light spec models, never the fault code with its asyncio, subprocess or client imports.
    """
    module_name, _, attr = target.partition(":")
    resolved: list[Callable[..., Any]] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        if not resolved:
            resolved.append(getattr(importlib.import_module(module_name), attr))
        return resolved[0](*args, **kwargs)

    forward.__qualname__ = forward.__name__ = f"lazy({target})"
    return forward


# -------------------------------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """Every kind known to one plugin manager."""

    faults: dict[str, FaultKind] = field(default_factory=dict)
    probes: dict[str, ProbeKind] = field(default_factory=dict)
    load_generators: dict[str, LoadGeneratorKind] = field(default_factory=dict)
    reporters: dict[str, ReporterKind] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    current_plugin: str = "chaoskit"

    def _add(self, table: dict[str, Any], what: str, name: str, kind: Any) -> None:
        key = f"{what}:{name}"
        if name in table:
            raise PluginError(
                f"{what} kind {name!r} from {self.current_plugin} is already registered by {self.origin[key]}",
                plugin=self.current_plugin,
            )
        table[name] = kind
        self.origin[key] = self.current_plugin

    def add_fault(self, kind: FaultKind) -> None:
        self._add(self.faults, "fault", kind.name, kind)

    def add_probe(self, kind: ProbeKind) -> None:
        self._add(self.probes, "probe", kind.name, kind)

    def add_load_generator(self, kind: LoadGeneratorKind) -> None:
        self._add(self.load_generators, "load generator", kind.name, kind)

    def add_reporter(self, kind: ReporterKind) -> None:
        self._add(self.reporters, "reporter", kind.name, kind)
