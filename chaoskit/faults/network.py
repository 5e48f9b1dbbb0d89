"""Network faults through a Toxiproxy-compatible proxy: ``network.latency``, ``network.bandwidth``,
``network.down``, ``network.timeout``, ``network.reset_peer``, ``network.slicer`` and ``network.limit_data``.

Each targets a proxy declared under ``proxies:`` and injects toxics named ``chaoskit-<fault>-<direction>``
through the proxy API of the run (``ctx.services["proxy"]``, see :mod:`chaoskit.proxy.runtime`). The ledger's undo
record holds the API URL, the proxy, the toxic names and whether the API was embedded, so ``chaoskit recover``
can remove them after a crash; an embedded API that no longer answers died with its run and left nothing.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from chaoskit.errors import FaultError, RevertError
from chaoskit.experiment.model import Experiment, FaultSpec, Name, Problem, Strict
from chaoskit.experiment.units import Duration, Fraction
from chaoskit.plugins import hookimpl
from chaoskit.proxy.client import ApiUnavailable, Conflict, NotFound, ToxiproxyClient, ToxiproxyError
from chaoskit.registry import Fault, FaultKind, Registry

if TYPE_CHECKING:
    from chaoskit.proxy.runtime import ProxyRuntime
    from chaoskit.runner.context import RunContext

Direction = Literal["upstream", "downstream", "both"]
T = TypeVar("T")


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


# ----------------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class ToxicPlan:
    name: str
    type: str
    stream: Literal["upstream", "downstream"]
    toxicity: float
    attributes: dict[str, int]


class NetworkFault(Fault):
    """A fault on one proxy of a Toxiproxy API."""

    def __init__(self, url: str, proxy: str, *, embedded: bool, client: ToxiproxyClient | None = None) -> None:
        self.url = url
        self.proxy = proxy
        self.embedded = embedded
        self.client = client or ToxiproxyClient(url)

    @property
    def target(self) -> str:
        return f"proxy {self.proxy}"

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _gone(self, exc: ToxiproxyError) -> bool:
        """True when the proxy (or the whole embedded API) no longer exists, so nothing of ours is left."""
        return isinstance(exc, NotFound) or (isinstance(exc, ApiUnavailable) and self.embedded)

    def _fail(self, what: str, exc: ToxiproxyError, error: type[FaultError] = FaultError) -> FaultError:
        return error(f"{what} on proxy {self.proxy} ({self.url}): {exc.message}", target=self.target)


class ToxicFault(NetworkFault):
    """Toxics added to a proxy, one per direction."""

    kind = "network.toxic"

    def __init__(
        self,
        url: str,
        proxy: str,
        toxics: list[ToxicPlan],
        *,
        embedded: bool,
        client: ToxiproxyClient | None = None,
    ) -> None:
        super().__init__(url, proxy, embedded=embedded, client=client)
        self.toxics = toxics

    def undo(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "proxy": self.proxy,
            "toxics": [t.name for t in self.toxics],
            "embedded": self.embedded,
            "plan": [asdict(t) for t in self.toxics],
        }

    async def inject(self) -> None:
        for t in self.toxics:
            try:
                try:
                    await self._call(
                        self.client.add_toxic,
                        self.proxy,
                        t.type,
                        name=t.name,
                        stream=t.stream,
                        toxicity=t.toxicity,
                        attributes=t.attributes,
                    )
                except Conflict:  # left by a run that did not finish: take it over
                    await self._call(
                        self.client.update_toxic, self.proxy, t.name, attributes=t.attributes, toxicity=t.toxicity
                    )
            except ToxiproxyError as exc:
                raise self._fail(f"cannot add toxic {t.name}", exc) from None

    async def revert(self) -> None:
        for t in self.toxics:
            try:
                await self._call(self.client.remove_toxic, self.proxy, t.name)
            except ToxiproxyError as exc:
                if not self._gone(exc):
                    raise self._fail(f"cannot remove toxic {t.name}", exc, RevertError) from None

    async def verify_reverted(self) -> None:
        try:
            present = {t.name for t in await self._call(self.client.toxics, self.proxy)}
        except ToxiproxyError as exc:
            if self._gone(exc):
                return
            raise self._fail("cannot read the toxics back", exc, RevertError) from None
        left = [t.name for t in self.toxics if t.name in present]
        if left:
            raise RevertError(
                f"toxic(s) {', '.join(left)} still on proxy {self.proxy} ({self.url})", target=self.target
            )


class LatencyFault(ToxicFault):
    kind = "network.latency"


class BandwidthFault(ToxicFault):
    kind = "network.bandwidth"


class TimeoutFault(ToxicFault):
    kind = "network.timeout"


class ResetPeerFault(ToxicFault):
    kind = "network.reset_peer"


class SlicerFault(ToxicFault):
    kind = "network.slicer"


class LimitDataFault(ToxicFault):
    kind = "network.limit_data"


FAULT_CLASSES: dict[str, type[ToxicFault]] = {
    cls.kind: cls for cls in (LatencyFault, BandwidthFault, TimeoutFault, ResetPeerFault, SlicerFault, LimitDataFault)
}


class ProxyDownFault(NetworkFault):
    """A proxy disabled (``network.down``), enabled again on revert."""

    kind = "network.down"

    def __init__(
        self, url: str, proxy: str, *, embedded: bool, enabled: bool = True, client: ToxiproxyClient | None = None
    ) -> None:
        super().__init__(url, proxy, embedded=embedded, client=client)
        self.enabled = enabled  # the state to restore

    def undo(self) -> dict[str, Any]:
        return {"url": self.url, "proxy": self.proxy, "embedded": self.embedded, "enabled": self.enabled}

    async def inject(self) -> None:
        try:
            await self._call(self.client.disable, self.proxy)
        except ToxiproxyError as exc:
            raise self._fail("cannot disable the proxy", exc) from None

    async def revert(self) -> None:
        try:
            await self._call(self.client.update_proxy, self.proxy, enabled=self.enabled)
        except ToxiproxyError as exc:
            if not self._gone(exc):
                raise self._fail("cannot enable the proxy again", exc, RevertError) from None

    async def verify_reverted(self) -> None:
        try:
            proxy = await self._call(self.client.proxy, self.proxy)
        except ToxiproxyError as exc:
            if self._gone(exc):
                return
            raise self._fail("cannot read the proxy back", exc, RevertError) from None
        if proxy.enabled != self.enabled:
            state = "enabled" if self.enabled else "disabled"
            raise RevertError(f"proxy {self.proxy} ({self.url}) is not {state} again", target=self.target)


# ---------------------------------------------------------------------------------------------- registration


def toxic_plans(spec: ToxicSpec) -> list[ToxicPlan]:
    streams: list[Literal["upstream", "downstream"]] = (
        ["upstream", "downstream"] if spec.direction == "both" else [spec.direction]
    )
    attributes = spec.attributes()
    return [ToxicPlan(f"chaoskit-{spec.name}-{s}", spec.toxic, s, spec.toxicity, attributes) for s in streams]


def _runtime(spec: NetworkSpec, ctx: RunContext) -> ProxyRuntime:
    runtime: ProxyRuntime | None = ctx.services.get("proxy")
    if runtime is None:
        raise FaultError(
            f"fault {spec.name}: network faults need the run's proxies, but no proxy API was opened "
            "(declare the proxy under proxies:)",
            fault=spec.name,
            target=f"proxy {spec.target.proxy}",
        )
    if spec.target.proxy not in runtime.proxies:
        raise FaultError(
            f"fault {spec.name}: proxy {spec.target.proxy!r} was not created for this run "
            f"(proxies: {', '.join(runtime.proxies) or 'none'})",
            fault=spec.name,
            target=f"proxy {spec.target.proxy}",
        )
    return runtime


def _create_toxic(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, ToxicSpec)
    runtime = _runtime(spec, ctx)
    cls = FAULT_CLASSES[spec.type]
    return [cls(runtime.url, spec.target.proxy, toxic_plans(spec), embedded=runtime.embedded, client=runtime.client)]


def _restore_toxic(undo: Mapping[str, Any]) -> Fault:
    plans = [ToxicPlan(**p) for p in undo.get("plan") or ()]
    if not plans:
        plans = [ToxicPlan(str(n), "", "downstream", 1.0, {}) for n in undo.get("toxics") or ()]
    cls = FAULT_CLASSES.get(str(undo.get("kind")), ToxicFault)
    return cls(str(undo["url"]), str(undo["proxy"]), plans, embedded=bool(undo.get("embedded")))


def _create_down(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, NetworkDownSpec)
    runtime = _runtime(spec, ctx)
    declared = next((p for p in ctx.experiment.proxies if p.name == spec.target.proxy), None)
    enabled = declared.enabled if declared is not None else True
    return [
        ProxyDownFault(
            runtime.url, spec.target.proxy, embedded=runtime.embedded, enabled=enabled, client=runtime.client
        )
    ]


def _restore_down(undo: Mapping[str, Any]) -> Fault:
    return ProxyDownFault(
        str(undo["url"]), str(undo["proxy"]), embedded=bool(undo.get("embedded")), enabled=bool(undo.get("enabled", 1))
    )


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
        register.add_fault(FaultKind(name, spec, _create_toxic, _restore_toxic, summary, _preview))
    register.add_fault(
        FaultKind(
            "network.down", NetworkDownSpec, _create_down, _restore_down, "Take a proxy down (disable it).", _preview
        )
    )
