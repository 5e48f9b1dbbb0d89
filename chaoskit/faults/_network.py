"""The network faults themselves: toxics and a disabled proxy, through a Toxiproxy-compatible API.

Their experiment models and registration are in :mod:`chaoskit.faults.network`; this module (asyncio, the proxy
client) is imported only when a run creates a fault or ``chaoskit recover`` restores one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from chaoskit.errors import FaultError, RevertError
from chaoskit.faults.network import NetworkDownSpec, NetworkSpec, ToxicSpec
from chaoskit.proxy.client import ApiUnavailable, Conflict, NotFound, ToxiproxyClient, ToxiproxyError
from chaoskit.registry import Fault

if TYPE_CHECKING:
    from chaoskit.experiment.model import FaultSpec
    from chaoskit.proxy.runtime import ProxyRuntime
    from chaoskit.runner.context import RunContext

T = TypeVar("T")


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


def create_toxic(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, ToxicSpec)
    runtime = _runtime(spec, ctx)
    cls = FAULT_CLASSES[spec.type]
    return [cls(runtime.url, spec.target.proxy, toxic_plans(spec), embedded=runtime.embedded, client=runtime.client)]


def restore_toxic(undo: Mapping[str, Any]) -> Fault:
    plans = [ToxicPlan(**p) for p in undo.get("plan") or ()]
    if not plans:
        plans = [ToxicPlan(str(n), "", "downstream", 1.0, {}) for n in undo.get("toxics") or ()]
    cls = FAULT_CLASSES.get(str(undo.get("kind")), ToxicFault)
    return cls(str(undo["url"]), str(undo["proxy"]), plans, embedded=bool(undo.get("embedded")))


def create_down(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, NetworkDownSpec)
    runtime = _runtime(spec, ctx)
    declared = next((p for p in ctx.experiment.proxies if p.name == spec.target.proxy), None)
    enabled = declared.enabled if declared is not None else True
    return [
        ProxyDownFault(
            runtime.url, spec.target.proxy, embedded=runtime.embedded, enabled=enabled, client=runtime.client
        )
    ]


def restore_down(undo: Mapping[str, Any]) -> Fault:
    return ProxyDownFault(
        str(undo["url"]), str(undo["proxy"]), embedded=bool(undo.get("embedded")), enabled=bool(undo.get("enabled", 1))
    )
