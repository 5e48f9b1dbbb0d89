"""chaoskit: chaos experiments that prove a system keeps its SLOs when things break.

The public API is re-exported here lazily (``import chaoskit`` stays cheap, which keeps ``chaoskit --help``
fast); everything else lives in private-by-convention modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit import _lazy
from chaoskit._version import __version__

if TYPE_CHECKING:
    from chaoskit.api import fault, load, run_experiment
    from chaoskit.errors import (
        ChaoskitError,
        ExperimentError,
        FaultError,
        LedgerError,
        PluginError,
        ProbeError,
        RevertError,
        TargetError,
    )
    from chaoskit.experiment.model import Experiment
    from chaoskit.plugins import hookimpl, plugin_manager
    from chaoskit.runner.result import Outcome, RunResult

_EXPORTS = {
    "ChaoskitError": "chaoskit.errors",
    "Experiment": "chaoskit.experiment.model",
    "ExperimentError": "chaoskit.errors",
    "FaultError": "chaoskit.errors",
    "LedgerError": "chaoskit.errors",
    "Outcome": "chaoskit.runner.result",
    "PluginError": "chaoskit.errors",
    "ProbeError": "chaoskit.errors",
    "RevertError": "chaoskit.errors",
    "RunResult": "chaoskit.runner.result",
    "TargetError": "chaoskit.errors",
    "fault": "chaoskit.api",
    "hookimpl": "chaoskit.plugins",
    "load": "chaoskit.api",
    "plugin_manager": "chaoskit.plugins",
    "run_experiment": "chaoskit.api",
}

__all__ = [
    "ChaoskitError",
    "Experiment",
    "ExperimentError",
    "FaultError",
    "LedgerError",
    "Outcome",
    "PluginError",
    "ProbeError",
    "RevertError",
    "RunResult",
    "TargetError",
    "__version__",
    "fault",
    "hookimpl",
    "load",
    "plugin_manager",
    "run_experiment",
]


__getattr__ = _lazy.exports("chaoskit", _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
