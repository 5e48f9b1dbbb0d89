"""toxiproxy-python's documented API (create, list, toxics add/remove, enable/disable, reset) against the
embedded server: an unmodified third-party client is the proof of API compatibility."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chaoskit.proxy.server import ServerThread
from tests.proxy.conftest import EchoServer, connect, recv_exactly

toxiproxy = pytest.importorskip("toxiproxy")
from toxiproxy.api import APIConsumer  # noqa: E402
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists  # noqa: E402


@pytest.fixture
def client(server: ServerThread) -> Iterator[object]:
    host, port = APIConsumer.host, APIConsumer.port
    tp = toxiproxy.Toxiproxy()
    tp.update_api_consumer("127.0.0.1", server.server.port)  # class attributes: process-global
    yield tp
    APIConsumer.host, APIConsumer.port = host, port


def test_running_and_version(client: object) -> None:
    assert client.running() is True  # type: ignore[attr-defined]
    assert client.version() == b'{"version": "2.12.0"}\n'  # type: ignore[attr-defined]


def test_create_list_get_destroy(client: object, echo: EchoServer) -> None:
    proxy = client.create(echo.addr, "db")  # type: ignore[attr-defined]
    assert proxy.name == "db" and proxy.upstream == echo.addr and proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(client.proxies()) == {"db"}  # type: ignore[attr-defined]
    assert client.get_proxy("db").listen == proxy.listen  # type: ignore[attr-defined]
    assert client.get_proxy("nope") is None  # type: ignore[attr-defined]
    with pytest.raises(ProxyExists):
        client.create(echo.addr, "db")  # type: ignore[attr-defined]
    with connect(proxy.listen) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
    assert client.destroy(proxy) is True  # type: ignore[attr-defined]
    assert client.proxies() == {}  # type: ignore[attr-defined]


def test_toxics_add_list_remove(client: object, echo: EchoServer) -> None:
    proxy = client.create(echo.addr, "db")  # type: ignore[attr-defined]
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="slow", toxicity=0.5, attributes={"rate": 1000})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "slow"}
    assert toxics["latency_downstream"].attributes == {"latency": 150, "jitter": 0}
    assert toxics["slow"].stream == "upstream" and toxics["slow"].toxicity == 0.5
    assert proxy.get_toxic("slow").type == "bandwidth"
    with connect(proxy.listen) as sock:
        start = time.perf_counter()
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        assert time.perf_counter() - start >= 0.145
    with pytest.raises(ProxyExists):  # its 409 mapping, for toxics too
        proxy.add_toxic(type="latency")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nope")
    assert proxy.destroy_toxic("latency_downstream") is True
    assert set(proxy.toxics()) == {"slow"}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")


def test_disable_enable_and_down(client: object, echo: EchoServer) -> None:
    proxy = client.create(echo.addr, "db")  # type: ignore[attr-defined]
    proxy.disable()
    assert client.get_proxy("db").enabled is False  # type: ignore[attr-defined]
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen, timeout=1).close()
    proxy.enable()
    assert client.get_proxy("db").enabled is True  # type: ignore[attr-defined]
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(proxy.listen, timeout=1).close()
    with connect(proxy.listen) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"


def test_reset_populate_destroy_all(client: object, echo: EchoServer) -> None:
    created = client.populate(  # type: ignore[attr-defined]
        [
            {"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": echo.addr, "listen": "127.0.0.1:0", "enabled": False},
        ]
    )
    assert [p.name for p in created] == ["a", "b"]
    proxy = client.get_proxy("a")  # type: ignore[attr-defined]
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    assert client.reset() is True  # type: ignore[attr-defined]
    assert proxy.toxics() == {}
    assert client.get_proxy("b").enabled is True  # type: ignore[attr-defined]
    client.destroy_all()  # type: ignore[attr-defined]
    assert client.proxies() == {}  # type: ignore[attr-defined]
