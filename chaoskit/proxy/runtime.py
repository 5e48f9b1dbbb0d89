"""The proxies of one run: the API they live on (embedded or a real Toxiproxy) and their lifetime.

The runner calls :func:`open_proxies` in preflight, stores the result as ``ctx.services["proxy"]`` before any
fault is created, and awaits :meth:`ProxyRuntime.close` at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoskit.errors import FaultError, TargetError
from chaoskit.proxy.client import ApiUnavailable, Conflict, NotFound, ToxiproxyClient, ToxiproxyError

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment, ProxySpec
    from chaoskit.proxy.server import ServerThread

API_TIMEOUT = 5.0


@dataclass
class ProxyRuntime:
    """The proxy API of a run and the proxies it created."""

    url: str
    embedded: bool
    proxies: tuple[str, ...] = ()
    _client: ToxiproxyClient | None = None
    _thread: ServerThread | None = field(default=None, repr=False)
    _closed: bool = False

    @property
    def client(self) -> ToxiproxyClient:
        if self._client is None:
            raise FaultError("this experiment declares no proxies, so there is no proxy API to use")
        return self._client

    async def close(self) -> None:
        """Delete this run's proxies and stop the embedded server. Idempotent; never raises for a gone proxy."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        if self._client is not None and not self.embedded:
            for name in self.proxies:
                try:
                    await asyncio.to_thread(self._client.delete_proxy, name)
                except NotFound:
                    pass
                except ToxiproxyError as exc:
                    errors.append(f"{name}: {exc.message}")
        if self._thread is not None:
            # Stopping the embedded server closes its listeners and connections: nothing is left behind.
            await asyncio.to_thread(self._thread.stop)
        if errors:
            raise FaultError(f"could not delete proxies on {self.url}: {'; '.join(errors)}")


async def open_proxies(experiment: Experiment) -> ProxyRuntime:
    """Start (or reach) the proxy API and create every proxy the experiment declares.

    With ``proxy.url`` the proxies are created on that server; otherwise an embedded server starts on its own
    thread on 127.0.0.1 with an ephemeral API port. Raises :class:`TargetError` when the API cannot be reached or
    a proxy cannot listen (port taken), after undoing what was done.
    """
    if not experiment.proxies:
        return ProxyRuntime(url=experiment.proxy.url or "", embedded=False)
    thread: ServerThread | None = None
    if experiment.proxy.url:
        try:
            client = ToxiproxyClient(experiment.proxy.url, timeout=API_TIMEOUT)
        except ValueError as exc:
            raise TargetError(f"proxy.url: {exc}", target="proxy") from None
    else:
        from chaoskit.proxy.server import ServerThread

        thread = ServerThread("127.0.0.1", 0)
        try:
            url = await asyncio.to_thread(thread.start)
        except OSError as exc:
            raise TargetError(f"the embedded proxy server could not start: {exc}", target="proxy") from None
        client = ToxiproxyClient(url, timeout=API_TIMEOUT)
    runtime = ProxyRuntime(url=client.url, embedded=thread is not None, _client=client, _thread=thread)
    created: list[str] = []
    try:
        for spec in experiment.proxies:
            await asyncio.to_thread(_create, client, spec)
            created.append(spec.name)
            runtime.proxies = tuple(created)
    except BaseException:
        with contextlib.suppress(Exception):
            await runtime.close()
        raise
    return runtime


def _create(client: ToxiproxyClient, spec: ProxySpec) -> None:
    target = f"proxy {spec.name}"
    try:
        try:
            client.create_proxy(spec.name, spec.upstream, spec.listen, enabled=spec.enabled)
            return
        except Conflict:
            existing = client.proxy(spec.name)
        if existing.upstream != spec.upstream or existing.listen != spec.listen:
            raise TargetError(
                f"proxy {spec.name!r} already exists on {client.url} with listen {existing.listen} and upstream "
                f"{existing.upstream}; delete it or rename the proxy in the experiment",
                target=target,
            )
        # The same proxy left by an earlier run that did not finish: start afresh.
        client.delete_proxy(spec.name)
        client.create_proxy(spec.name, spec.upstream, spec.listen, enabled=spec.enabled)
    except ApiUnavailable as exc:
        raise TargetError(f"the proxy API at {client.url} is not reachable: {exc.message}", target=target) from None
    except ToxiproxyError as exc:
        detail = exc.message
        if "address already in use" in detail:
            detail = f"{spec.listen} is already in use by another process"
        raise TargetError(f"proxy {spec.name!r} could not listen on {spec.listen}: {detail}", target=target) from None
