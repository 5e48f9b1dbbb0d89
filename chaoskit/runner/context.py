"""Per-run state handed to fault kinds, probes, load generators and hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment
    from chaoskit.registry import Registry
    from chaoskit.runner.processes import ProcessGroup


@dataclass
class RunContext:
    """Everything one run owns. There is no global state: two runs in one process do not share anything."""

    run_id: str
    experiment: Experiment
    base_dir: Path
    state_dir: Path
    registry: Registry
    processes: ProcessGroup
    hook: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    """Shared helpers set up by plugins for this run (e.g. ``"proxy"``: the proxy API client)."""

    def resolve_path(self, path: str) -> Path:
        """A path from the experiment, relative to the experiment file's directory."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p
