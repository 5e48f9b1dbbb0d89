"""The live terminal view of a running experiment (rich): phase, elapsed and remaining time, the current SLIs per
SLO over the last few seconds, and the active faults."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from chaoskit.slo.evidence import Aggregate, matches, read

if TYPE_CHECKING:
    from chaoskit.runner.engine import Runner

RECENT_SECONDS = 5.0


def planned_seconds(runner: Runner) -> float:
    """An upper bound of the run's length after preflight (recoveries may end early)."""
    exp = runner.experiment
    p = exp.phases
    return p.warmup + p.baseline + sum(f.start + f.duration + p.recovery for f in exp.faults)


class LiveView:
    """A rich renderable that reads the runner's state each refresh."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.began = time.time()

    def __rich__(self) -> RenderableType:
        state = self.runner.state
        now = time.time()
        phase = state.phases[-1] if state.phases else None
        label = "starting" if phase is None else f"{phase.name}" + (f" ({phase.fault})" if phase.fault else "")
        elapsed = now - self.began
        remaining = max(planned_seconds(self.runner) - elapsed, 0.0)
        header = Text.assemble(
            (self.runner.experiment.title, "bold"), "  phase ", (label, "cyan"),
            f"  elapsed {elapsed:5.1f}s  remaining <= {remaining:5.1f}s",
        )
        table = Table(box=None, expand=False, pad_edge=False)
        for column in ("SLO", f"last {RECENT_SECONDS:g}s", "objective", "n"):
            table.add_column(column)
        recent = [w for w in state.windows[-2000:] if w.end >= now - RECENT_SECONDS]
        during = bool(state.active)
        for slo in self.runner.experiment.slos:
            agg = Aggregate.of(w for w in recent if matches(slo, w))
            reading = read(slo, agg, during=during, span=RECENT_SECONDS)
            style = "green" if reading.holds else "red" if reading.holds is False else "yellow"
            objective = str(getattr(slo, "objective", "")) or f"p{getattr(slo, 'percentile', 0):g} <= " \
                f"{getattr(slo, 'threshold', 0) * 1000:g}ms"
            table.add_row(slo.name, Text(reading.text, style=style), objective, str(agg.count))
        faults = ", ".join(f"{a.record.name} on {a.record.target}" for a in state.active) or "none"
        return Group(header, table, Text(f"active faults: {faults}", style="magenta" if state.active else "dim"))
