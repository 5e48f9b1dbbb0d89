"""The tcp probe against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter, ValidationError

from chaoskit.probes.tcp import TcpProbe, TcpProbeSpec
from chaoskit.registry import Observation


def observe(probe: TcpProbe) -> Observation:
    return asyncio.run(probe.observe())


@pytest.fixture
def line_server() -> Iterator[int]:
    """Answers ``PING`` with ``PONG``, says nothing to ``QUIET`` and hangs up on anything else."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                line = conn.recv(1024)
                if line == b"PING\n":
                    conn.sendall(b"PO")  # split, so the probe must gather the answer
                    conn.sendall(b"NG\n")
                elif line == b"QUIET\n":
                    stop.wait(10)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_connects(line_server: int) -> None:
    obs = observe(TcpProbe("127.0.0.1", line_server))
    assert obs.ok and obs.detail == "connected"


def test_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    obs = observe(TcpProbe("127.0.0.1", port))
    assert not obs.ok and obs.detail == "connection refused"


def test_send_and_expect(line_server: int) -> None:
    assert observe(TcpProbe("127.0.0.1", line_server, send="PING\n", expect="PONG")).ok


def test_peer_hangs_up_without_the_expected_answer(line_server: int) -> None:
    obs = observe(TcpProbe("127.0.0.1", line_server, send="HELLO\n", expect="PONG"))
    assert not obs.ok and obs.detail == "connection closed without 'PONG' (got '')"


def test_expect_times_out(line_server: int) -> None:
    obs = observe(TcpProbe("127.0.0.1", line_server, send="QUIET\n", expect="PONG", timeout=0.3))
    assert not obs.ok
    assert obs.detail == "timed out after 0.3s waiting for an answer holding 'PONG'"
    assert 0.3 <= obs.latency < 3


spec_adapter = TypeAdapter(TcpProbeSpec)


def test_spec_builds_a_probe() -> None:
    spec = spec_adapter.validate_python(
        {"name": "store", "type": "tcp", "address": "127.0.0.1:7001", "send": "PING\n", "expect": "PONG"}
    )
    probe = TcpProbe.from_spec(spec)
    assert (probe.host, probe.port, probe.send, probe.expect) == ("127.0.0.1", 7001, b"PING\n", b"PONG")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "http://127.0.0.1:80"])
def test_spec_rejects_a_bad_address(address: str) -> None:
    with pytest.raises(ValidationError, match="expected HOST:PORT"):
        spec_adapter.validate_python({"name": "store", "type": "tcp", "address": address})
