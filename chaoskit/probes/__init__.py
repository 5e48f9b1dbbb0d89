"""Stock probe kinds (http, tcp, command, python) and the plain probes the runner reuses for readiness checks.

One module per kind holds its experiment model (``*ProbeSpec``) and its :class:`~chaoskit.registry.Probe`.
:mod:`chaoskit.probes.builtin` registers them through ``chaoskit_register_probes``.
"""

from __future__ import annotations

from chaoskit.probes.command import CommandProbe, CommandProbeSpec
from chaoskit.probes.http import HttpProbe, HttpProbeSpec
from chaoskit.probes.python import PythonProbe, PythonProbeSpec, load_function
from chaoskit.probes.tcp import TcpProbe, TcpProbeSpec

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
