"""Fault, probe and load-generator kinds for loader tests, registered through a real plugin manager."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chaoskit.experiment.model import Experiment, FaultSpec, Name, ProbeSpec, Problem, Strict
from chaoskit.experiment.units import Duration
from chaoskit.plugins import hookimpl, plugin_manager
from chaoskit.registry import FaultKind, LoadGeneratorKind, ProbeKind, Registry


class ProxyRef(Strict):
    proxy: Name


class ProcessRef(Strict):
    process: Name


class LatencyParams(Strict):
    latency: Duration
    jitter: Duration = 0.0


class NetworkLatency(FaultSpec):
    """Test stand-in for the network issue's latency toxic."""

    type: Literal["network.latency"]
    target: ProxyRef
    params: LatencyParams

    def problems(self, experiment: Experiment) -> list[Problem]:
        names = [p.name for p in experiment.proxies]
        if self.target.proxy not in names:
            return [(("target", "proxy"), f"no proxy named {self.target.proxy!r}", f"proxies: {names}")]
        return []


class ProcessStop(FaultSpec):
    type: Literal["process.stop"]
    target: ProcessRef


class ProcessKill(FaultSpec):
    type: Literal["process.kill"]
    target: ProcessRef
    signal: str = "SIGKILL"


class HttpProbe(ProbeSpec):
    type: Literal["http"]
    url: str
    status: int = Field(200, ge=100, le=599)


class TcpProbe(ProbeSpec):
    type: Literal["tcp"]
    address: str


def _never(*args: Any) -> Any:
    raise AssertionError("not used by loader tests")


class KindsPlugin:
    """Registers the test kinds the way a third-party plugin would."""

    def __init__(self, *, load: bool = True) -> None:
        self.load = load

    @hookimpl
    def chaoskit_register_faults(self, register: Registry) -> None:
        for spec, name in (
            (NetworkLatency, "network.latency"),
            (ProcessStop, "process.stop"),
            (ProcessKill, "process.kill"),
        ):
            register.add_fault(FaultKind(name, spec, _never, _never))

    @hookimpl
    def chaoskit_register_probes(self, register: Registry) -> None:
        register.add_probe(ProbeKind("http", HttpProbe, _never))
        register.add_probe(ProbeKind("tcp", TcpProbe, _never))

    @hookimpl
    def chaoskit_register_load_generators(self, register: Registry) -> None:
        if self.load:
            register.add_load_generator(LoadGeneratorKind("locust", _never))


def make_registry(*, load: bool = True) -> Registry:
    return plugin_manager(builtins=(), entry_points_enabled=False, extra=[KindsPlugin(load=load)]).registry


VALID = """\
version: 1
title: Checkout tolerates 200 ms of latency to its store
target:
  processes:
    - name: store
      command: [python, -m, targets.shop.store, --port, "7001"]
      ready: {tcp: "127.0.0.1:7001"}
    - name: api
      command: [python, -m, targets.shop.api, --port, "8080"]
      ready: {http: "http://127.0.0.1:8080/health"}
proxies:
  - {name: store, listen: "127.0.0.1:7002", upstream: "127.0.0.1:7001"}
load:
  locustfile: targets/shop/locustfile.py
  users: 20
  rate: 200/s
slos:
  - {name: availability, sli: success_rate, objective: ">= 99%"}
  - name: checkout-p95
    sli: latency
    request: /checkout
    percentile: 95
    threshold: 250ms
    during: {threshold: 600ms}
  - {name: rate, sli: throughput, objective: ">= 50/s", source: health}
probes:
  - {name: health, type: http, url: "http://127.0.0.1:8080/health", every: 1s}
phases: {warmup: 5s, baseline: 15s, recovery: 30s}
faults:
  - name: store-latency
    type: network.latency
    target: {proxy: store}
    params: {latency: 200ms, jitter: 20ms}
    duration: 20s
  - {name: stop-api, type: process.stop, target: {process: api}, duration: 10s}
guardrails:
  abort_when: {success_rate: "< 80%"}
  max_duration: 10m
rollbacks:
  - {name: restore, command: [echo, restored]}
"""


# One of each mistake a user makes: a wrong type, a misspelt top-level key, a missing required key, a
# misspelt fault type, a bad duration.
FIVE_MISTAKES = """\
version: 1
title: Five mistakes
target:
  processes:
    - name: api
      command: python -m targets.shop.api
phase: {baseline: 5s}
slos:
  - {name: p95, sli: latency, percentile: 95}
faults:
  - {name: freeze, type: process.stpo, target: {process: api}, duration: 5s}
guardrails:
  max_duration: 10 minutes
"""
