"""The stock probe kinds, registered through the same hook a third-party plugin uses.

Registering needs only the kinds' models (:mod:`chaoskit.probes.specs`); a probe's own module (asyncio, ssl,
subprocesses) is imported when a run creates that probe.
"""

from __future__ import annotations

from chaoskit.experiment.model import ProbeSpec
from chaoskit.plugins import hookimpl
from chaoskit.probes.specs import CommandProbeSpec, HttpProbeSpec, PythonProbeSpec, TcpProbeSpec
from chaoskit.registry import Probe, ProbeKind, Registry


def _create_http(spec: ProbeSpec) -> Probe:
    from chaoskit.probes.http import HttpProbe

    assert isinstance(spec, HttpProbeSpec)
    return HttpProbe.from_spec(spec)


def _create_tcp(spec: ProbeSpec) -> Probe:
    from chaoskit.probes.tcp import TcpProbe

    assert isinstance(spec, TcpProbeSpec)
    return TcpProbe.from_spec(spec)


def _create_command(spec: ProbeSpec) -> Probe:
    from chaoskit.probes.command import CommandProbe

    assert isinstance(spec, CommandProbeSpec)
    return CommandProbe.from_spec(spec)


def _create_python(spec: ProbeSpec) -> Probe:
    from chaoskit.probes.python import PythonProbe

    assert isinstance(spec, PythonProbeSpec)
    return PythonProbe.from_spec(spec)


@hookimpl
def chaoskit_register_probes(register: Registry) -> None:
    register.add_probe(
        ProbeKind("http", HttpProbeSpec, _create_http, "One HTTP request: status, body text and latency.")
    )
    register.add_probe(ProbeKind("tcp", TcpProbeSpec, _create_tcp, "A TCP connection opens (optionally send/expect)."))
    register.add_probe(
        ProbeKind("command", CommandProbeSpec, _create_command, "A command exits with the expected code (no shell).")
    )
    register.add_probe(
        ProbeKind("python", PythonProbeSpec, _create_python, "A Python function returns a truthy value or None.")
    )
