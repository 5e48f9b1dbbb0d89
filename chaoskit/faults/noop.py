"""``noop``: a fault that touches nothing. For dry runs of a pipeline, for benchmarks, and as a control episode
(does the system's SLO hold through an episode with no fault at all?)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from chaoskit.experiment.model import FaultSpec
from chaoskit.plugins import hookimpl
from chaoskit.registry import Fault, FaultKind, Registry

if TYPE_CHECKING:
    from chaoskit.runner.context import RunContext


class NoopSpec(FaultSpec):
    """An episode with no fault: inject and revert do nothing."""

    type: Literal["noop"]


class Noop(Fault):
    kind = "noop"

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def target(self) -> str:
        return "nothing"

    def undo(self) -> dict[str, Any]:
        return {"name": self.name}

    async def inject(self) -> None:
        return None

    async def revert(self) -> None:
        return None

    async def verify_reverted(self) -> None:
        return None


def _create(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    return [Noop(spec.name)]


def _restore(undo: Mapping[str, Any]) -> Fault:
    return Noop(str(undo.get("name", "noop")))


@hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    register.add_fault(FaultKind("noop", NoopSpec, _create, _restore, "Touch nothing (a control episode)."))
