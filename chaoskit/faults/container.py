"""Container faults on a Docker engine: ``container.kill``, ``container.stop``, ``container.pause``,
``container.restart`` and ``container.partition``.

Every kind takes the same ``target``, a :class:`ContainerSelector`: containers by name (a glob), by labels, or by
compose project and service, narrowed to ``count`` or ``percent`` of the matches chosen at random with a seed that
is recorded (given, or drawn per run). A selector that matches no running container is an error before anything is
touched. Each chosen container becomes one fault whose ledger identity is the container ID.

This module holds the kinds' experiment models and registers them; the faults themselves (the ``docker`` SDK,
``nsenter``/``iptables``) live in :mod:`chaoskit.faults._container`, imported when a run creates, restores or
previews one, so ``chaoskit validate`` never loads them and a machine without Docker can still validate.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaoskit.experiment.model import Experiment, FaultSpec, Strict
from chaoskit.experiment.units import Duration
from chaoskit.faults.process import parse_signal
from chaoskit.plugins import hookimpl
from chaoskit.registry import FaultKind, Registry, lazy

_IMPL = "chaoskit.faults._container"


class ComposeSelector(Strict):
    """Containers of a compose project (label ``com.docker.compose.project``), optionally of one service."""

    project: str = Field(min_length=1, description="The compose project name, e.g. chaoskit-demo.")
    service: str | None = Field(None, min_length=1, description="One service of the project; default: all.")


class ContainerSelector(Strict):
    """Which running containers: every given criterion must hold; then ``count`` or ``percent`` of them."""

    name: str | None = Field(
        None, min_length=1, description="Container name, or a glob such as shop-api-* (a leading / is ignored)."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description='Labels that must all be present with these values ("*": any value).'
    )
    compose: ComposeSelector | None = Field(None, description="A compose project, optionally one of its services.")
    count: int | None = Field(None, ge=1, le=10_000, description="Hit this many of the matches, chosen at random.")
    percent: float | None = Field(
        None, gt=0, le=100, description="Hit this share of the matches (rounded up, at least one), chosen at random."
    )
    seed: int | None = Field(
        None, ge=0, description="Seed of the random choice; default: drawn for each run and recorded."
    )

    @model_validator(mode="after")
    def _something_selected(self) -> ContainerSelector:
        if self.name is None and not self.labels and self.compose is None:
            raise ValueError("give at least one of name, labels or compose")
        if self.count is not None and self.percent is not None:
            raise ValueError("give count or percent, not both")
        return self

    def describe(self) -> str:
        """``compose chaoskit-demo/api, 1 of the matches`` and the like, for messages."""
        parts = []
        if self.name is not None:
            parts.append(f"name {self.name}")
        if self.labels:
            parts.append("labels " + ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())))
        if self.compose is not None:
            parts.append(
                f"compose {self.compose.project}" + (f"/{self.compose.service}" if self.compose.service else "")
            )
        return " and ".join(parts)


class _ContainerSpec(FaultSpec):
    target: ContainerSelector


# ---------------------------------------------------------------------------------------------------- params


class KillParams(Strict):
    signal: str = Field("SIGKILL", description="Signal name (SIGKILL, SIGTERM, ...) or number.")
    restart: Literal["auto", "policy", "chaoskit"] = Field(
        "auto",
        description="Who brings the container back: its restart policy (a container that stays down longer than "
        "restart_timeout is a finding: the run FAILS, and chaoskit starts it), chaoskit (docker start after the "
        "duration), or auto (policy when the container has one, else chaoskit).",
    )
    restart_timeout: Duration = Field(
        30.0,
        gt=0,
        description="How long the restart policy gets, from the kill, before the container counts as "
        "stayed down; also the bound on waiting for its health check.",
    )

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        parse_signal(value)
        return value


class StopParams(Strict):
    timeout: Duration = Field(10.0, description="Grace between the container's stop signal and SIGKILL.")
    health_timeout: Duration = Field(30.0, gt=0, description="Bound on waiting for its health check after start.")


class PauseParams(Strict):
    """No parameters: the container's processes are frozen (cgroup freezer) for the duration."""


class RestartParams(Strict):
    timeout: Duration = Field(10.0, description="Grace between the container's stop signal and SIGKILL.")
    health_timeout: Duration = Field(30.0, gt=0, description="Bound on waiting for its health check.")


class PartitionParams(Strict):
    """Drop packets in the container's network namespace (iptables via nsenter); loopback is never touched."""

    direction: Literal["both", "ingress", "egress"] = Field(
        "both", description="ingress: packets coming in; egress: packets going out; both."
    )
    peers: list[str] = Field(
        default_factory=list,
        description="Only traffic with these: container names, services of the target's compose project, "
        "IP addresses or CIDRs; default: every peer.",
    )
    ports: list[int] = Field(
        default_factory=list, description="Only traffic from or to these ports (either end); default: all ports."
    )
    protocol: Literal["all", "tcp", "udp"] = Field("all", description="Only this protocol.")

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 0 < p < 65536]
        if bad:
            raise ValueError(f"ports must be between 1 and 65535, got {bad[0]}")
        return value

    def peer_addresses(self) -> list[str]:
        """The peers that are IP addresses or networks (the others name containers)."""
        out = []
        for peer in self.peers:
            try:
                out.append(str(ipaddress.ip_network(peer, strict=False)))
            except ValueError:
                continue
        return out


# ----------------------------------------------------------------------------------------------------- kinds


class ContainerKillSpec(_ContainerSpec):
    """Send a signal to each container's main process, as a crash would; then see whether its restart policy
    brings it back, and how fast (chaoskit starts it otherwise, so nothing is left down)."""

    type: Literal["container.kill"]
    params: KillParams = Field(default_factory=KillParams)


class ContainerStopSpec(_ContainerSpec):
    """``docker stop`` each container for the duration, then start it again."""

    type: Literal["container.stop"]
    params: StopParams = Field(default_factory=StopParams)


class ContainerPauseSpec(_ContainerSpec):
    """``docker pause`` each container for the duration (its processes frozen, sockets open), then unpause."""

    type: Literal["container.pause"]
    params: PauseParams = Field(default_factory=PauseParams)


class ContainerRestartSpec(_ContainerSpec):
    """``docker restart`` each container when the fault starts; the duration is how long the episode watches."""

    type: Literal["container.restart"]
    params: RestartParams = Field(default_factory=RestartParams)


class ContainerPartitionSpec(_ContainerSpec):
    """Cut each container off the network (all of it, or only some peers or ports) for the duration."""

    type: Literal["container.partition"]
    params: PartitionParams = Field(default_factory=PartitionParams)


# ---------------------------------------------------------------------------------------------- registration


def _preview(spec: FaultSpec, experiment: Experiment) -> list[str]:
    from chaoskit.faults import _container

    return _container.preview(spec)


_KINDS: tuple[tuple[str, type[_ContainerSpec], str], ...] = (
    ("container.kill", ContainerKillSpec, "Signal a container's main process (a crash); check its restart policy."),
    ("container.stop", ContainerStopSpec, "Stop containers for the duration, then start them."),
    ("container.pause", ContainerPauseSpec, "Freeze containers (docker pause) for the duration."),
    ("container.restart", ContainerRestartSpec, "Restart containers (docker restart)."),
    ("container.partition", ContainerPartitionSpec, "Drop a container's traffic (iptables in its netns)."),
)


@hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    for name, spec, summary in _KINDS:
        register.add_fault(FaultKind(name, spec, lazy(f"{_IMPL}:create"), lazy(f"{_IMPL}:restore"), summary, _preview))
