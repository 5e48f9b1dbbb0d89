"""Network faults through a Toxiproxy-compatible proxy: ``network.latency``, ``network.bandwidth``,
``network.down``, ``network.timeout``, ``network.reset_peer``, ``network.slicer`` and ``network.limit_data``.

Each targets a proxy declared under ``proxies:`` and injects toxics named ``chaoskit-<fault>-<direction>``
through the proxy API of the run (``ctx.services["proxy"]``, see :mod:`chaoskit.proxy.runtime`). The ledger's undo
record holds the API URL, the proxy, the toxic names and whether the API was embedded, so ``chaoskit recover``
can remove them after a crash; an embedded API that no longer answers died with its run and left nothing.

This module holds the kinds' experiment models and registers them; the faults themselves (asyncio, the proxy
client) live in :mod:`chaoskit.faults._network`, imported when a run creates or restores one, so ``chaoskit
validate`` never loads them.
"""

from __future__ import annotations

import difflib
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from chaoskit import _lazy
from chaoskit.experiment.model import Experiment, FaultSpec, Name, Problem, Strict
from chaoskit.experiment.units import Duration, Fraction
from chaoskit.plugins import hookimpl
from chaoskit.registry import FaultKind, Registry, lazy

_IMPL = "chaoskit.faults._network"

Direction = Literal["upstream", "downstream", "both"]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# ------------------------------------------------------------------------------------------------------ specs


class ProxyTarget(Strict):
    """The proxy a network fault goes through."""

    proxy: Name = Field(description="A proxy declared under proxies:.")


class NetworkSpec(FaultSpec):
    """Base of the network fault kinds."""

    target: ProxyTarget

    def problems(self, experiment: Experiment) -> list[Problem]:
        known = [p.name for p in experiment.proxies]
        name = self.target.proxy
        if name in known:
            return []
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif known:
            hint = f"declared proxies: {', '.join(known)}"
        else:
            hint = "declare it under proxies: with a name, listen and upstream"
        return [(("target", "proxy"), f"no proxy named {name!r} is declared in proxies:", hint)]


class ToxicSpec(NetworkSpec):
    """A network fault that is one toxic per direction."""

    toxic: ClassVar[str]
    direction: Direction = Field(
        "downstream", description="downstream: server -> client (Toxiproxy's default), upstream, or both."
    )
    toxicity: Fraction = Field(1.0, description="Share of connections the toxic applies to, e.g. 50%.")

    def attributes(self) -> dict[str, int]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.toxic


class LatencyParams(Strict):
    latency: Duration = Field(description="Added to each chunk of data, e.g. 200ms.")
    jitter: Duration = Field(0.0, description="Each delay is latency +- up to this much, uniformly.")


class NetworkLatencySpec(ToxicSpec):
    """Delay data by ``latency`` (+- ``jitter``): per round trip with ``direction: downstream``."""

    type: Literal["network.latency"]
    toxic = "latency"
    params: LatencyParams

    def attributes(self) -> dict[str, int]:
        return {"latency": _ms(self.params.latency), "jitter": _ms(self.params.jitter)}

    def describe(self) -> str:
        jitter = f" +- {_ms(self.params.jitter)} ms" if self.params.jitter else ""
        return f"latency {_ms(self.params.latency)} ms{jitter}"


class BandwidthParams(Strict):
    rate: int = Field(ge=0, description="KB/s (1 KB = 1000 bytes); 0 stalls the data until the fault ends.")


class NetworkBandwidthSpec(ToxicSpec):
    """Limit throughput to ``rate`` KB/s."""

    type: Literal["network.bandwidth"]
    toxic = "bandwidth"
    params: BandwidthParams

    def attributes(self) -> dict[str, int]:
        return {"rate": self.params.rate}

    def describe(self) -> str:
        return f"bandwidth {self.params.rate} KB/s"


class TimeoutParams(Strict):
    timeout: Duration = Field(0.0, description="Close the connection after this long with no data; 0: never.")


class NetworkTimeoutSpec(ToxicSpec):
    """Drop all data (a black hole); close connections after ``timeout`` if it is not 0."""

    type: Literal["network.timeout"]
    toxic = "timeout"
    params: TimeoutParams = Field(default_factory=TimeoutParams)

    def attributes(self) -> dict[str, int]:
        return {"timeout": _ms(self.params.timeout)}


class ResetPeerParams(Strict):
    timeout: Duration = Field(0.0, description="Reset the connection this long after the first data.")


class NetworkResetPeerSpec(ToxicSpec):
    """Reset connections (TCP RST) once data flows, after ``timeout``."""

    type: Literal["network.reset_peer"]
    toxic = "reset_peer"
    params: ResetPeerParams = Field(default_factory=ResetPeerParams)

    def attributes(self) -> dict[str, int]:
        return {"timeout": _ms(self.params.timeout)}


class SlicerParams(Strict):
    average_size: int = Field(ge=1, description="Average size of the pieces data is cut into, in bytes.")
    size_variation: int = Field(0, ge=0, description="Pieces vary by up to this many bytes.")
    delay: Duration = Field(0.0, description="Pause after each piece, e.g. 1ms.")

    @model_validator(mode="after")
    def _variation(self) -> SlicerParams:
        if self.size_variation > self.average_size:
            raise ValueError("size_variation must not exceed average_size")
        return self


class NetworkSlicerSpec(ToxicSpec):
    """Cut data into small pieces, with a pause after each."""

    type: Literal["network.slicer"]
    toxic = "slicer"
    params: SlicerParams

    def attributes(self) -> dict[str, int]:
        p = self.params
        return {"average_size": p.average_size, "size_variation": p.size_variation, "delay": round(p.delay * 1e6)}


class LimitDataParams(Strict):
    bytes: int = Field(ge=0, description="Close each connection after this many bytes in the direction.")


class NetworkLimitDataSpec(ToxicSpec):
    """Close each connection once ``bytes`` have passed in a direction."""

    type: Literal["network.limit_data"]
    toxic = "limit_data"
    params: LimitDataParams

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.params.bytes}


class NetworkDownSpec(NetworkSpec):
    """Take the proxy down: its listener closes (connects are refused) and open connections are closed."""

    type: Literal["network.down"]


# ---------------------------------------------------------------------------------------------- registration


def _preview(spec: FaultSpec, experiment: Experiment) -> list[str]:
    assert isinstance(spec, NetworkSpec)
    declared = next((p for p in experiment.proxies if p.name == spec.target.proxy), None)
    where = f"proxy {spec.target.proxy}"
    if declared is not None:
        where += f" ({declared.listen} -> {declared.upstream})"
    if isinstance(spec, ToxicSpec):
        toxicity = "" if spec.toxicity >= 1 else f", toxicity {spec.toxicity:.0%}"
        return [f"{where}: {spec.describe()} {spec.direction}{toxicity}"]
    return [f"{where}: disabled (connections refused and closed)"]


_TOXIC_KINDS: tuple[tuple[str, type[ToxicSpec], str], ...] = (
    ("network.latency", NetworkLatencySpec, "Delay data through a proxy (latency +- jitter)."),
    ("network.bandwidth", NetworkBandwidthSpec, "Limit a proxy's throughput (KB/s)."),
    ("network.timeout", NetworkTimeoutSpec, "Black-hole a proxy's data; optionally close after a timeout."),
    ("network.reset_peer", NetworkResetPeerSpec, "Reset connections through a proxy (TCP RST)."),
    ("network.slicer", NetworkSlicerSpec, "Cut data through a proxy into small, delayed pieces."),
    ("network.limit_data", NetworkLimitDataSpec, "Close connections after a number of bytes."),
)


@hookimpl
def chaoskit_register_faults(register: Registry) -> None:
    for name, spec, summary in _TOXIC_KINDS:
        register.add_fault(
            FaultKind(name, spec, lazy(f"{_IMPL}:create_toxic"), lazy(f"{_IMPL}:restore_toxic"), summary, _preview)
        )
    create, restore = lazy(f"{_IMPL}:create_down"), lazy(f"{_IMPL}:restore_down")
    register.add_fault(
        FaultKind("network.down", NetworkDownSpec, create, restore, "Take a proxy down (disable it).", _preview)
    )


__getattr__ = _lazy.forward(__name__, _IMPL)
