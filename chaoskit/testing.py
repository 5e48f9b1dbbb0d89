"""Test doubles for users and plugin authors: a fault that records what happened to it, and a probe whose
answers a test scripts. Register them with ``plugin_manager(extra=[FakePlugin()])``.

>>> fakes = FakePlugin()
>>> pm = plugin_manager(extra=[fakes])                      # doctest: +SKIP
>>> fakes.healthy = lambda: False                           # the fake probe now fails
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chaoskit.errors import FaultError, RevertError
from chaoskit.experiment.model import FaultSpec, ProbeSpec, Strict
from chaoskit.plugins import hookimpl
from chaoskit.registry import Fault, FaultKind, Observation, Probe, ProbeKind, Registry

if TYPE_CHECKING:
    from chaoskit.runner.context import RunContext


class FakeParams(Strict):
    fail_inject: bool = False
    fail_revert: bool = False
    breaks_probe: bool = Field(True, description="While injected, the fake probe fails.")
    latency: float = Field(0.0, ge=0, description="Extra latency the fake probe reports while injected.")


class FakeFaultSpec(FaultSpec):
    type: Literal["fake"]
    target: dict[str, str] = Field(default_factory=dict)
    params: FakeParams = Field(default_factory=FakeParams)


class FakeProbeSpec(ProbeSpec):
    type: Literal["fake"]


@dataclass
class FakePlugin:
    """A plugin object providing the ``fake`` fault and probe kinds, and the shared state they act on."""

    events: list[tuple[float, str, str]] = field(default_factory=list)
    injected: set[str] = field(default_factory=set)
    slow_by: float = 0.0
    healthy: Callable[[], bool] | None = None
    stuck: bool = False
    """When True, reverting does not take effect (verify_reverted then raises)."""

    breaks: dict[str, bool] = field(default_factory=dict)

    def probe_ok(self) -> bool:
        if self.healthy is not None:
            return self.healthy()
        return not any(self.breaks.get(name, True) for name in self.injected)

    @hookimpl
    def chaoskit_register_faults(self, register: Registry) -> None:
        register.add_fault(FaultKind("fake", FakeFaultSpec, self._create, self._restore, "A fault for tests."))

    @hookimpl
    def chaoskit_register_probes(self, register: Registry) -> None:
        register.add_probe(ProbeKind("fake", FakeProbeSpec, lambda spec: FakeProbe(self), "A probe for tests."))

    def _create(self, spec: FaultSpec, ctx: RunContext) -> list[Fault]:
        assert isinstance(spec, FakeFaultSpec)
        return [FakeFault(self, spec.name, spec.params)]

    def _restore(self, undo: Mapping[str, Any]) -> Fault:
        return FakeFault(self, str(undo["name"]), FakeParams.model_validate(undo["params"]))


class FakeFault(Fault):
    kind = "fake"

    def __init__(self, plugin: FakePlugin, name: str, params: FakeParams) -> None:
        self.plugin, self.name, self.params = plugin, name, params

    @property
    def target(self) -> str:
        return f"fake {self.name}"

    def undo(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params.model_dump()}

    async def inject(self) -> None:
        self.plugin.events.append((time.time(), "inject", self.name))
        if self.params.fail_inject:
            raise FaultError("fake inject failure", fault=self.name)
        self.plugin.injected.add(self.name)
        self.plugin.breaks[self.name] = self.params.breaks_probe
        self.plugin.slow_by += self.params.latency

    async def revert(self) -> None:
        self.plugin.events.append((time.time(), "revert", self.name))
        if self.params.fail_revert:
            raise RevertError("fake revert failure", fault=self.name)
        if self.plugin.stuck:
            return
        if self.name in self.plugin.injected:
            self.plugin.injected.discard(self.name)
            self.plugin.slow_by -= self.params.latency

    async def verify_reverted(self) -> None:
        if self.name in self.plugin.injected:
            raise RevertError(f"fake {self.name} is still injected", fault=self.name)


class FakeProbe(Probe):
    def __init__(self, plugin: FakePlugin) -> None:
        self.plugin = plugin

    async def observe(self) -> Observation:
        ok = self.plugin.probe_ok()
        return Observation(ok=ok, latency=0.001 + self.plugin.slow_by, detail="" if ok else "fake failure")
