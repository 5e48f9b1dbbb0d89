"""Each toxic's behaviour on real sockets through the embedded server (reference/toxiproxy-api.md §2).

Timings have generous upper bounds: the suite must stay green on a loaded 2-core machine.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.proxy.server import ServerThread
from tests.proxy.conftest import Api, EchoServer, connect, recv_exactly, wait_closed


def _round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - start


def _until_eof(sock: socket.socket) -> tuple[bytes, float]:
    start = time.perf_counter()
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.perf_counter() - start
        data += chunk


@pytest.fixture
def proxy(api: Api, echo: EchoServer) -> str:
    return str(api.proxy("p", echo.addr)["listen"])


def _toxic(
    api: Api, kind: str, name: str | None = None, stream: str = "downstream", toxicity: float = 1.0, **attributes: int
) -> None:
    body = {"type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
    if name:
        body["name"] = name
    reply = api("POST", "/proxies/p/toxics", body)
    assert reply.status == 200, reply.body


class Closer:
    """An upstream that sends ``greeting`` and then closes each connection."""

    def __init__(self, greeting: bytes = b"bye") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.greeting = greeting
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(self.greeting)
            conn.close()


@pytest.fixture
def closer() -> Iterator[Closer]:
    srv = Closer()
    yield srv
    srv.sock.close()


# ------------------------------------------------------------------------------------------------ fast path


def test_fast_path_relays_bulk_data_intact(proxy: str) -> None:
    payload = os.urandom(4 << 20)
    with connect(proxy) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert hashlib.sha256(recv_exactly(sock, len(payload))).digest() == hashlib.sha256(payload).digest()


def test_unreachable_upstream_gives_eof(api: Api) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    addr = f"127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    listen = api.proxy("dead", addr)["listen"]
    with connect(listen) as sock:
        assert _until_eof(sock)[0] == b""


def test_no_half_close_the_reply_is_lost(proxy: str) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"hello")
        time.sleep(0.05)
        sock.shutdown(socket.SHUT_WR)
        data, _ = _until_eof(sock)
    assert data in (b"", b"hello")  # the echo may win the race, but the connection ends at once


# ---------------------------------------------------------------------------------------------------- latency


def test_latency_downstream_adds_to_each_round_trip(api: Api, proxy: str) -> None:
    with connect(proxy) as sock:
        assert _round_trip(sock) < 0.1
        _toxic(api, "latency", latency=200)  # applies to the open connection at once
        assert 0.195 <= _round_trip(sock) < 0.45
        api("PATCH", "/proxies/p/toxics/latency_downstream", {"attributes": {"latency": 50}})
        assert 0.045 <= _round_trip(sock) < 0.3
        api("DELETE", "/proxies/p/toxics/latency_downstream")
        assert _round_trip(sock) < 0.1


def test_latency_upstream_and_stacked(api: Api, proxy: str) -> None:
    _toxic(api, "latency", stream="upstream", latency=100)
    _toxic(api, "latency", name="more", stream="upstream", latency=100)
    _toxic(api, "latency", latency=100)
    with connect(proxy) as sock:
        assert 0.295 <= _round_trip(sock) < 0.6


def test_latency_jitter_varies_within_bounds(api: Api, proxy: str) -> None:
    _toxic(api, "latency", latency=60, jitter=40)
    with connect(proxy) as sock:
        times = [_round_trip(sock) for _ in range(12)]
    assert min(times) >= 0.019 and max(times) < 0.3
    assert max(times) - min(times) > 0.01


def test_latency_keeps_the_pipeline_full(api: Api, proxy: str) -> None:
    _toxic(api, "latency", latency=200)
    with connect(proxy) as sock:
        start = time.perf_counter()
        for _ in range(10):
            sock.sendall(b"x")
            time.sleep(0.02)
        assert recv_exactly(sock, 10) == b"x" * 10
        assert time.perf_counter() - start < 0.65  # sequential delays would take > 2 s


def test_removing_latency_releases_held_data_at_once(api: Api, proxy: str) -> None:
    _toxic(api, "latency", latency=10_000)
    with connect(proxy) as sock:
        sock.sendall(b"held")
        time.sleep(0.1)
        start = time.perf_counter()
        api("DELETE", "/proxies/p/toxics/latency_downstream")
        assert recv_exactly(sock, 4) == b"held"
        assert time.perf_counter() - start < 0.5


def test_toxicity_zero_never_applies_and_one_always(api: Api, proxy: str) -> None:
    _toxic(api, "latency", toxicity=0, latency=1000)
    with connect(proxy) as sock:
        assert _round_trip(sock) < 0.5


def test_toxicity_is_drawn_per_connection(api: Api, proxy: str) -> None:
    _toxic(api, "latency", toxicity=0.5, latency=150)
    delayed = 0
    for _ in range(24):
        with connect(proxy) as sock:
            first = _round_trip(sock)
            second = _round_trip(sock)
        assert (first >= 0.14) == (second >= 0.14)  # the draw holds for the connection
        delayed += first >= 0.14
    assert 2 <= delayed <= 22


# -------------------------------------------------------------------------------------------------- bandwidth


def test_bandwidth_limits_throughput(api: Api, proxy: str) -> None:
    _toxic(api, "bandwidth", rate=100)  # 100 KB/s: 50,000 B take 0.5 s
    with connect(proxy) as sock:
        took = _round_trip(sock, os.urandom(50_000))
    assert 0.45 <= took < 1.0


def test_bandwidth_zero_stalls_until_removed_then_delivers_intact(api: Api, proxy: str) -> None:
    _toxic(api, "bandwidth", rate=0)
    payload = os.urandom(100_000)
    with connect(proxy, timeout=5) as sock:
        sock.sendall(payload)
        sock.settimeout(0.4)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.settimeout(5)
        api("DELETE", "/proxies/p/toxics/bandwidth_downstream")
        assert recv_exactly(sock, len(payload)) == payload


# ------------------------------------------------------------------------------------------------ slow_close


def test_slow_close_delays_the_close(api: Api, closer: Closer) -> None:
    listen = api.proxy("p", closer.addr)["listen"]
    with connect(listen) as sock:
        data, took = _until_eof(sock)
    assert data == b"bye" and took < 0.2
    _toxic(api, "slow_close", delay=300)
    with connect(listen) as sock:
        data, took = _until_eof(sock)
    assert data == b"bye" and 0.29 <= took < 0.8


# ---------------------------------------------------------------------------------------------------- timeout


def test_timeout_drops_data_and_closes_after_silence(api: Api, proxy: str) -> None:
    _toxic(api, "timeout", timeout=300)
    with connect(proxy) as sock:
        sock.sendall(b"lost")
        data, took = _until_eof(sock)
    assert data == b"" and 0.28 <= took < 0.8


def test_timeout_zero_is_a_black_hole_and_removing_it_closes(api: Api, proxy: str) -> None:
    _toxic(api, "timeout", stream="upstream", timeout=0)
    with connect(proxy) as sock:
        sock.sendall(b"lost")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.settimeout(5)
        api("DELETE", "/proxies/p/toxics/timeout_upstream")
        assert _until_eof(sock)[0] == b""


# ------------------------------------------------------------------------------------------------- reset_peer


def test_reset_peer_present_at_accept_resets_the_client(api: Api, proxy: str) -> None:
    _toxic(api, "reset_peer", stream="upstream", timeout=100)
    with connect(proxy) as sock:
        sock.sendall(b"discarded")
        start = time.perf_counter()
        with pytest.raises(ConnectionResetError):
            _until_eof(sock)
        assert 0.09 <= time.perf_counter() - start < 0.6


def test_reset_peer_added_later_closes_without_rst(api: Api, proxy: str) -> None:
    with connect(proxy) as sock:
        _round_trip(sock)
        _toxic(api, "reset_peer", stream="upstream", timeout=50)
        sock.sendall(b"discarded")
        assert _until_eof(sock)[0] == b""


# ----------------------------------------------------------------------------------------------------- slicer


def test_slicer_cuts_data_into_pieces_and_keeps_it_intact(api: Api, proxy: str) -> None:
    _toxic(api, "slicer", average_size=10, size_variation=0, delay=20_000)
    payload = bytes(range(100))
    with connect(proxy) as sock:
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(1000))
            assert pieces[-1]
    assert b"".join(pieces) == payload
    assert len(pieces) >= 8 and max(map(len, pieces)) <= 10


# ------------------------------------------------------------------------------------------------- limit_data


def test_limit_data_forwards_up_to_the_limit_then_closes(api: Api, proxy: str) -> None:
    _toxic(api, "limit_data", bytes=10)
    with connect(proxy) as sock:
        sock.sendall(b"0123456789abcdef")
        data, _ = _until_eof(sock)
    assert data == b"0123456789"


def test_limit_data_zero_closes_on_the_first_chunk(api: Api, proxy: str) -> None:
    _toxic(api, "limit_data", stream="upstream", bytes=0)
    with connect(proxy) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # no data: the connection stays open
        sock.settimeout(5)
        sock.sendall(b"x")
        assert _until_eof(sock)[0] == b""


# ------------------------------------------------------------------------------------------------ live chains


def test_noop_and_chains_keep_data_intact(api: Api, proxy: str) -> None:
    _toxic(api, "noop")
    _toxic(api, "latency", name="l", latency=1)
    _toxic(api, "slicer", name="s", stream="upstream", average_size=700, size_variation=300)
    _toxic(api, "bandwidth", name="b", rate=100_000)
    payload = os.urandom(1 << 20)
    with connect(proxy) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert recv_exactly(sock, len(payload)) == payload


def test_removing_every_toxic_returns_to_the_fast_path(api: Api, server: ServerThread, proxy: str) -> None:
    with connect(proxy) as sock:
        _toxic(api, "latency", latency=20)
        _toxic(api, "noop", name="n", stream="upstream")
        assert _round_trip(sock) >= 0.019
        api("DELETE", "/proxies/p/toxics/latency_downstream")
        api("DELETE", "/proxies/p/toxics/n")
        for _ in range(3):
            _round_trip(sock)
        (conn,) = server.server.proxies["p"].connections
        assert conn.up.head is None and conn.down.head is None
        assert _round_trip(sock) < 0.1


def test_connections_are_released_when_clients_leave(server: ServerThread, api: Api, proxy: str) -> None:
    _toxic(api, "latency", latency=1)
    socks = [connect(proxy) for _ in range(20)]
    for sock in socks:
        _round_trip(sock)
    for sock in socks:
        sock.close()
    wait_closed(server, "p")
    assert not server.server.proxies["p"].connections


# ------------------------------------------------------------------------------------- property: data intact

_harmless = st.sampled_from(
    [
        ("noop", {}),
        ("latency", {"latency": 2, "jitter": 1}),
        ("bandwidth", {"rate": 50_000}),
        ("slicer", {"average_size": 64, "size_variation": 32, "delay": 100}),
        ("slicer", {"average_size": 1000, "size_variation": 0}),
        ("slow_close", {"delay": 1}),
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chain=st.lists(st.tuples(_harmless, st.sampled_from(["upstream", "downstream"]), st.booleans()), max_size=5),
    payload=st.binary(min_size=1, max_size=200_000),
    toxicity=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_chains_of_harmless_toxics_deliver_every_byte_in_order(
    api: Api, proxy: str, chain: list, payload: bytes, toxicity: float
) -> None:
    with connect(proxy) as sock:
        live = []
        for i, ((kind, attributes), stream, during) in enumerate(chain):
            body = {"type": kind, "name": f"t{i}", "stream": stream, "toxicity": toxicity, "attributes": attributes}
            if during:
                live.append(body)  # added while the connection is open
            else:
                assert api("POST", "/proxies/p/toxics", body).status == 200
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        for body in live:
            assert api("POST", "/proxies/p/toxics", body).status == 200
        got = recv_exactly(sock, len(payload))
        sender.join(10)
    for i in range(len(chain)):
        api("DELETE", f"/proxies/p/toxics/t{i}")
    assert got == payload
