"""An example chaoskit plugin adding the ``hello.file`` fault kind."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

import chaoskit
from chaoskit.errors import FaultError, RevertError
from chaoskit.experiment.model import FaultSpec, Strict
from chaoskit.registry import Fault, FaultKind, Registry


class FileTarget(Strict):
    path: str = Field(description="The marker file to create while the fault is active.")


class HelloParams(Strict):
    message: str = "hello from chaoskit"


class HelloFileSpec(FaultSpec):
    """Create a marker file for the duration of the fault."""

    type: Literal["hello.file"]
    target: FileTarget
    params: HelloParams = Field(default_factory=HelloParams)


class HelloFile(Fault):
    kind = "hello.file"

    def __init__(self, path: Path, message: str) -> None:
        self.path, self.message = path, message

    @property
    def target(self) -> str:
        return f"file {self.path}"

    def undo(self) -> dict[str, Any]:
        return {"path": str(self.path), "message": self.message}

    async def inject(self) -> None:
        if self.path.exists():
            raise FaultError(f"{self.path} already exists; refusing to overwrite it", target=str(self.path))
        self.path.write_text(self.message + "\n", encoding="utf-8")

    async def revert(self) -> None:
        if self.path.exists() and self.path.read_text(encoding="utf-8") == self.message + "\n":
            self.path.unlink()

    async def verify_reverted(self) -> None:
        if self.path.exists() and self.path.read_text(encoding="utf-8") == self.message + "\n":
            raise RevertError(f"{self.path} is still there", target=str(self.path))


def _create(spec: FaultSpec, ctx: Any) -> list[Fault]:
    assert isinstance(spec, HelloFileSpec)
    return [HelloFile(ctx.resolve_path(spec.target.path), spec.params.message)]


def _restore(undo: Mapping[str, Any]) -> Fault:
    return HelloFile(Path(undo["path"]), str(undo["message"]))


@chaoskit.hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    register.add_fault(FaultKind("hello.file", HelloFileSpec, _create, _restore, "Drop a marker file while active."))
