"""Stock probe kinds (http, tcp, command, python) and the plain probes the runner reuses for readiness checks.

:mod:`chaoskit.probes.specs` holds the kinds' experiment models (``*ProbeSpec``); one module per kind holds its
:class:`~chaoskit.registry.Probe` and re-exports its model. :mod:`chaoskit.probes.builtin` registers them through
``chaoskit_register_probes``. The names below are imported on first use, so importing a submodule (the specs, to
validate an experiment) does not import every probe with asyncio and ssl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit import _lazy

if TYPE_CHECKING:
    from chaoskit.probes.command import CommandProbe
    from chaoskit.probes.http import HttpProbe
    from chaoskit.probes.python import PythonProbe, load_function
    from chaoskit.probes.specs import CommandProbeSpec, HttpProbeSpec, PythonProbeSpec, TcpProbeSpec
    from chaoskit.probes.tcp import TcpProbe

_EXPORTS = {
    "CommandProbe": "chaoskit.probes.command",
    "CommandProbeSpec": "chaoskit.probes.specs",
    "HttpProbe": "chaoskit.probes.http",
    "HttpProbeSpec": "chaoskit.probes.specs",
    "PythonProbe": "chaoskit.probes.python",
    "PythonProbeSpec": "chaoskit.probes.specs",
    "TcpProbe": "chaoskit.probes.tcp",
    "TcpProbeSpec": "chaoskit.probes.specs",
    "load_function": "chaoskit.probes.python",
}

__all__ = [
    "CommandProbe",
    "CommandProbeSpec",
    "HttpProbe",
    "HttpProbeSpec",
    "PythonProbe",
    "PythonProbeSpec",
    "TcpProbe",
    "TcpProbeSpec",
    "load_function",
]


__getattr__ = _lazy.exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
