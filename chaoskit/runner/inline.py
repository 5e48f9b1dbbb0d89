"""One fault injected around a block of code (``chaoskit.fault(...)``), through the same ledger as a run."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from types import TracebackType

from chaoskit.errors import RevertError
from chaoskit.experiment.model import Experiment, FaultSpec
from chaoskit.registry import Fault, Registry
from chaoskit.runner.context import RunContext
from chaoskit.runner.ledger import Ledger, LedgerEntry
from chaoskit.runner.processes import ProcessGroup


class InlineFault:
    """Context manager: create, ledger, inject on enter; revert, verify, close the ledger entry on exit."""

    def __init__(self, spec: FaultSpec, registry: Registry, *, state_dir: Path) -> None:
        self.spec = spec
        self.kind = registry.faults[spec.type]
        self.ledger = Ledger(state_dir)
        self.run_id = "inline-" + time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        experiment = Experiment.model_validate({"version": 1, "title": f"inline {spec.name}"})
        self.ctx = RunContext(
            run_id=self.run_id,
            experiment=experiment,
            base_dir=Path.cwd(),
            state_dir=state_dir,
            registry=registry,
            processes=ProcessGroup([], base_dir=Path.cwd(), log_dir=state_dir / "runs" / self.run_id),
        )
        self.active: list[tuple[Fault, LedgerEntry]] = []

    def __enter__(self) -> list[str]:
        try:
            asyncio.run(self._inject())
        except BaseException:
            asyncio.run(self._revert())
            raise
        return [fault.target for fault, _ in self.active]

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run(self._revert())

    async def _inject(self) -> None:
        for fault in self.kind.create(self.spec, self.ctx):
            entry = self.ledger.open(
                run_id=self.run_id, fault=self.spec.name, kind=self.spec.type, target=fault.target, undo=fault.undo()
            )
            self.active.append((fault, entry))
            await fault.inject()

    async def _revert(self) -> None:
        failures = []
        while self.active:
            fault, entry = self.active.pop()
            try:
                await fault.revert()
                await fault.verify_reverted()
            except RevertError as exc:
                failures.append(str(exc))
                continue
            self.ledger.close(entry.id)
        if failures:
            raise RevertError("; ".join(failures) + "; run `chaoskit recover`", fault=self.spec.name)
