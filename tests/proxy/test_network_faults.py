"""The network fault kinds and the proxy run-time, against the embedded server on real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from chaoskit.errors import FaultError, RevertError, TargetError
from chaoskit.experiment.model import Experiment, experiment_model
from chaoskit.plugins import plugin_manager
from chaoskit.proxy.client import ToxiproxyClient
from chaoskit.proxy.runtime import ProxyRuntime, open_proxies
from chaoskit.proxy.server import ServerThread
from chaoskit.registry import Fault, Registry
from tests.proxy.conftest import EchoServer, connect, recv_exactly


@pytest.fixture(scope="module")
def registry() -> Registry:
    return plugin_manager(entry_points_enabled=False).registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _experiment(
    registry: Registry, faults: list[dict[str, Any]], proxies: list[dict[str, Any]], url: str | None = None
) -> Experiment:
    model = experiment_model([k.spec for k in registry.faults.values()], [k.spec for k in registry.probes.values()])
    doc: dict[str, Any] = {"version": 1, "title": "t", "proxies": proxies, "faults": faults}
    if url:
        doc["proxy"] = {"url": url}
    return model.model_validate(doc)


def _latency(name: str = "slow", proxy: str = "store", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "network.latency",
        "target": {"proxy": proxy},
        "duration": "1s",
        "params": {"latency": "150ms"},
        **extra,
    }


def _faults(registry: Registry, exp: Experiment, runtime: ProxyRuntime | None) -> list[Fault]:
    ctx = SimpleNamespace(experiment=exp, services={} if runtime is None else {"proxy": runtime})
    out: list[Fault] = []
    for spec in exp.faults:
        out += registry.faults[spec.type].create(spec, ctx)  # type: ignore[arg-type]
    return out


def _round_trip(listen: str) -> float:
    with connect(listen) as sock:
        start = time.perf_counter()
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        return time.perf_counter() - start


# ------------------------------------------------------------------------------------------------- specs


def test_params_take_human_units_and_become_integer_attributes(registry: Registry) -> None:
    exp = _experiment(
        registry,
        [
            _latency(params={"latency": "200ms", "jitter": "20ms"}, direction="both", toxicity="50%"),
            {
                "name": "cut",
                "type": "network.slicer",
                "target": {"proxy": "store"},
                "duration": "1s",
                "params": {"average_size": 10, "size_variation": 2, "delay": "1ms"},
            },
            {"name": "off", "type": "network.down", "target": {"proxy": "store"}, "duration": "1s"},
        ],
        [{"name": "store", "listen": "127.0.0.1:7002", "upstream": "127.0.0.1:7001"}],
    )
    latency, slicer, _ = exp.faults
    assert latency.attributes() == {"latency": 200, "jitter": 20}  # type: ignore[attr-defined]
    assert latency.toxicity == 0.5  # type: ignore[attr-defined]
    assert slicer.attributes() == {"average_size": 10, "size_variation": 2, "delay": 1000}  # type: ignore[attr-defined]
    from chaoskit.faults.network import toxic_plans

    plans = toxic_plans(latency)  # type: ignore[arg-type]
    assert [(p.name, p.stream) for p in plans] == [
        ("chaoskit-slow-upstream", "upstream"),
        ("chaoskit-slow-downstream", "downstream"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "network.slicer", "params": {"average_size": 2, "size_variation": 3}},
        {"type": "network.bandwidth", "params": {"rate": -1}},
        {"type": "network.latency", "params": {"latency": "soon"}},
        {"type": "network.latency", "params": {"latency": "1s"}, "direction": "sideways"},
        {"type": "network.limit_data", "params": {"bytes": 1, "extra": 2}},
    ],
)
def test_bad_params_are_refused(registry: Registry, bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _experiment(registry, [{"name": "f", "target": {"proxy": "p"}, "duration": "1s", **bad}], [])


def test_an_undeclared_proxy_is_a_problem_with_a_hint(registry: Registry) -> None:
    exp = _experiment(
        registry,
        [_latency(proxy="stroe")],
        [{"name": "store", "listen": "127.0.0.1:7002", "upstream": "127.0.0.1:7001"}],
    )
    assert exp.faults[0].problems(exp) == [
        (("target", "proxy"), "no proxy named 'stroe' is declared in proxies:", "did you mean 'store'?")
    ]


def test_create_without_the_proxy_service_is_a_clear_fault_error(registry: Registry) -> None:
    exp = _experiment(
        registry, [_latency()], [{"name": "store", "listen": "127.0.0.1:7002", "upstream": "127.0.0.1:7001"}]
    )
    with pytest.raises(FaultError, match="no proxy API was opened"):
        _faults(registry, exp, None)


# ----------------------------------------------------------------------------------------------- runtime


def test_embedded_runtime_creates_proxies_and_close_stops_everything(registry: Registry, echo: EchoServer) -> None:
    listen = f"127.0.0.1:{_free_port()}"
    exp = _experiment(registry, [], [{"name": "store", "listen": listen, "upstream": echo.addr}])

    async def main() -> None:
        runtime = await open_proxies(exp)
        assert runtime.embedded and runtime.proxies == ("store",)
        assert runtime.url.startswith("http://127.0.0.1:")
        assert (await asyncio.to_thread(runtime.client.proxy, "store")).listen == listen
        assert await asyncio.to_thread(_round_trip, listen) < 0.5
        await runtime.close()
        await runtime.close()  # idempotent

    asyncio.run(main())
    with pytest.raises(OSError):
        connect(listen, timeout=1).close()


def test_a_taken_listen_port_is_a_target_error(registry: Registry, echo: EchoServer) -> None:
    exp = _experiment(registry, [], [{"name": "store", "listen": echo.addr, "upstream": echo.addr}])
    with pytest.raises(TargetError, match="already in use"):
        asyncio.run(open_proxies(exp))


def test_external_runtime_deletes_its_proxies_but_leaves_the_server(
    registry: Registry, server: ServerThread, echo: EchoServer
) -> None:
    listen = f"127.0.0.1:{_free_port()}"
    exp = _experiment(registry, [], [{"name": "store", "listen": listen, "upstream": echo.addr}], url=server.url)

    async def main() -> None:
        runtime = await open_proxies(exp)
        assert not runtime.embedded and runtime.url == server.url
        await runtime.close()

    asyncio.run(main())
    assert ToxiproxyClient(server.url).proxies() == {}


def test_external_runtime_takes_over_an_identical_leftover(
    registry: Registry, server: ServerThread, echo: EchoServer
) -> None:
    listen = f"127.0.0.1:{_free_port()}"
    client = ToxiproxyClient(server.url)
    client.create_proxy("store", echo.addr, listen)
    client.add_toxic("store", "timeout", name="chaoskit-old-downstream")
    exp = _experiment(registry, [], [{"name": "store", "listen": listen, "upstream": echo.addr}], url=server.url)
    runtime = asyncio.run(open_proxies(exp))
    assert client.toxics("store") == []
    asyncio.run(runtime.close())


# -------------------------------------------------------------------------------------------------- faults


def _lifecycle(registry: Registry, fault_doc: dict[str, Any], echo: EchoServer, check: Any) -> dict[str, Any]:
    listen = f"127.0.0.1:{_free_port()}"
    exp = _experiment(registry, [fault_doc], [{"name": "store", "listen": listen, "upstream": echo.addr}])

    async def main() -> dict[str, Any]:
        runtime = await open_proxies(exp)
        try:
            (fault,) = _faults(registry, exp, runtime)
            undo = json.loads(json.dumps(fault.undo()))
            assert undo["url"] == runtime.url and undo["proxy"] == "store" and undo["embedded"] is True
            assert fault.target == "proxy store"
            await fault.inject()
            await asyncio.to_thread(check, listen, True)
            with pytest.raises(RevertError):
                await fault.verify_reverted()
            await fault.revert()
            await fault.revert()  # idempotent
            await fault.verify_reverted()
            await asyncio.to_thread(check, listen, False)
            # A restored fault (as `chaoskit recover` builds it) reverts the same injection.
            await fault.inject()
            restored = registry.faults[fault_doc["type"]].restore(undo)
            await restored.revert()
            await restored.verify_reverted()
            await asyncio.to_thread(check, listen, False)
            return undo
        finally:
            await runtime.close()

    return asyncio.run(main())


def test_latency_fault_injects_reverts_and_restores(registry: Registry, echo: EchoServer) -> None:
    def check(listen: str, active: bool) -> None:
        took = _round_trip(listen)
        assert (took >= 0.145) if active else (took < 0.14)

    undo = _lifecycle(registry, _latency(), echo, check)
    assert undo["toxics"] == ["chaoskit-slow-downstream"]


def test_down_fault_disables_and_enables_the_proxy(registry: Registry, echo: EchoServer) -> None:
    def check(listen: str, active: bool) -> None:
        if active:
            with pytest.raises(ConnectionRefusedError):
                connect(listen, timeout=1).close()
        else:
            _round_trip(listen)

    doc = {"name": "off", "type": "network.down", "target": {"proxy": "store"}, "duration": "1s"}
    assert _lifecycle(registry, doc, echo, check)["enabled"] is True


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("network.timeout", {"timeout": "0ms"}),
        ("network.limit_data", {"bytes": 0}),
        ("network.reset_peer", {"timeout": "0ms"}),
    ],
)
def test_stream_breaking_faults(registry: Registry, echo: EchoServer, kind: str, params: dict[str, Any]) -> None:
    def check(listen: str, active: bool) -> None:
        with connect(listen, timeout=2) as sock:
            sock.sendall(b"x")
            try:
                data = sock.recv(1)
            except (TimeoutError, ConnectionResetError):
                data = b""
        assert (data == b"") if active else (data == b"x")

    doc = {
        "name": "cut",
        "type": kind,
        "target": {"proxy": "store"},
        "duration": "1s",
        "params": params,
        "direction": "upstream",
    }
    _lifecycle(registry, doc, echo, check)


def test_bandwidth_fault(registry: Registry, echo: EchoServer) -> None:
    def check(listen: str, active: bool) -> None:
        with connect(listen) as sock:
            start = time.perf_counter()
            sock.sendall(b"x" * 30_000)
            recv_exactly(sock, 30_000)
            took = time.perf_counter() - start
        assert (took >= 0.25) if active else (took < 0.25)

    doc = {
        "name": "thin",
        "type": "network.bandwidth",
        "target": {"proxy": "store"},
        "duration": "1s",
        "params": {"rate": 100},
        "direction": "both",
    }
    _lifecycle(registry, doc, echo, check)


def test_restore_of_a_dead_embedded_api_is_a_verified_no_op(registry: Registry) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    undo = {
        "kind": "network.latency",
        "url": url,
        "proxy": "store",
        "toxics": ["chaoskit-slow-downstream"],
        "embedded": True,
    }
    fault = registry.faults["network.latency"].restore(undo)
    asyncio.run(fault.revert())
    asyncio.run(fault.verify_reverted())
    down = registry.faults["network.down"].restore({"url": url, "proxy": "store", "embedded": True, "enabled": True})
    asyncio.run(down.revert())
    asyncio.run(down.verify_reverted())


def test_restore_of_an_unreachable_external_api_fails_loudly(registry: Registry) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    undo = {"url": url, "proxy": "store", "toxics": ["chaoskit-slow-downstream"], "embedded": False}
    fault = registry.faults["network.latency"].restore(undo)
    with pytest.raises(RevertError, match="not reachable"):
        asyncio.run(fault.revert())
    with pytest.raises(RevertError):
        asyncio.run(fault.verify_reverted())


def test_inject_takes_over_a_leftover_toxic_of_the_same_name(
    registry: Registry, server: ServerThread, echo: EchoServer
) -> None:
    listen = f"127.0.0.1:{_free_port()}"
    exp = _experiment(
        registry, [_latency()], [{"name": "store", "listen": listen, "upstream": echo.addr}], url=server.url
    )

    async def main() -> None:
        runtime = await open_proxies(exp)
        try:
            client = runtime.client
            await asyncio.to_thread(
                client.add_toxic, "store", "latency", name="chaoskit-slow-downstream", attributes={"latency": 1}
            )
            (fault,) = _faults(registry, exp, runtime)
            await fault.inject()
            toxic = await asyncio.to_thread(client.toxic, "store", "chaoskit-slow-downstream")
            assert toxic.attributes["latency"] == 150
            await fault.revert()
            await fault.verify_reverted()
        finally:
            await runtime.close()

    asyncio.run(main())


def test_a_bad_or_dead_proxy_url_is_a_target_error(registry: Registry, echo: EchoServer) -> None:
    proxies = [{"name": "store", "listen": f"127.0.0.1:{_free_port()}", "upstream": echo.addr}]
    with pytest.raises(TargetError, match=r"proxy\.url"):
        asyncio.run(open_proxies(_experiment(registry, [], proxies, url="ftp://x")))
    dead = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(TargetError, match="not reachable"):
        asyncio.run(open_proxies(_experiment(registry, [], proxies, url=dead)))
