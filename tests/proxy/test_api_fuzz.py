"""Arbitrary JSON and paths thrown at the API while a stream is proxied: the stream is unharmed, the server keeps
answering, and every answer is a 2xx/4xx (or one of Toxiproxy's documented 500s for a listen address that cannot
be bound), never a crash."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from chaoskit.proxy.server import ServerThread
from tests.proxy.conftest import Api, EchoServer, connect, recv_exactly

STREAM = "the-stream-proxy"
# Listen addresses the fuzzer may send: all on loopback and resolved without DNS; some cannot be bound.
SAFE_LISTEN = [
    "127.0.0.1:0",
    "localhost:0",
    "[::1]:0",
    "127.0.0.1:",
    "local373",
    "127.0.0.1:99999",
    "[::1",
    "127.0.0.1:a\x00b",
]
# Toxiproxy answers 500 with Go's net error when a listen address cannot be bound or parsed (spec §1.1).
LISTEN_ERRORS = ("listen tcp", "address ", "lookup ")


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[Api, socket.socket]]:
    from tests.proxy.conftest import EchoServer as Echo

    echo: EchoServer = Echo()
    server = ServerThread("127.0.0.1", 0)
    server.start()
    api = Api(server.url)
    listen = api.proxy(STREAM, echo.addr)["listen"]
    stream = connect(listen)
    try:
        yield api, stream
    finally:
        stream.close()
        server.stop()
        echo.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
names = st.sampled_from(["a", "b", "latency_downstream", "x y", "ü", ""]) | st.text(max_size=6)
toxic_types = st.sampled_from(
    ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop", "nope", ""]
)
attribute_names = st.sampled_from(
    ["latency", "jitter", "rate", "delay", "timeout", "average_size", "size_variation", "bytes", "Latency"]
)
numbers = st.integers(min_value=-(2**64), max_value=2**64) | st.floats(allow_nan=False, allow_infinity=False)
fields = st.fixed_dictionaries(
    {},
    optional={
        "name": names | json_values,
        "upstream": st.sampled_from(["127.0.0.1:1", "x", ""]) | json_values,
        "listen": st.sampled_from(SAFE_LISTEN),
        "enabled": st.booleans() | json_values,
        "type": toxic_types | json_values,
        "stream": st.sampled_from(["upstream", "downstream", "UpStream", ""]) | json_values,
        "toxicity": numbers | json_values,
        "attributes": st.dictionaries(attribute_names | st.text(max_size=4), numbers | json_values, max_size=4)
        | json_values,
    },
)
bodies = st.one_of(
    fields.map(json.dumps),
    st.lists(fields, max_size=3).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=48).map(lambda b: b.decode("latin-1")),
    st.just(""),
)
known = st.sampled_from(["a", "a", "a", "b", "latency_downstream", "latency_downstream"])
segments = (
    known
    | known
    | known
    | names
    | st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=8)
)
paths = st.one_of(
    st.sampled_from(["/proxies", "/populate", "/reset", "/version", "/metrics", "/", "/proxies/"]),
    segments.map(lambda p: f"/proxies/{p}"),
    segments.map(lambda p: f"/proxies/{p}/toxics"),
    st.tuples(segments, segments).map(lambda pt: f"/proxies/{pt[0]}/toxics/{pt[1]}"),
    st.text(max_size=20),
    st.tuples(st.sampled_from(["http://", "https://", "http://["]), st.text(max_size=8), st.text(max_size=12)).map(
        "".join
    ),
)
methods = st.sampled_from(
    ["GET", "GET", "POST", "POST", "POST", "PATCH", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "G\x00T", ""]
)


def _listens(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.casefold() == "listen":
                yield item
            yield from _listens(item)
    elif isinstance(value, list):
        for item in value:
            yield from _listens(item)


def _send(api: Api, method: str, path: str, body: str) -> tuple[int, bytes]:
    payload = body.encode("utf-8", "surrogatepass")
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n\r\n"
    with socket.create_connection((api.host, api.port), timeout=10) as sock:
        sock.sendall(head.encode("utf-8", "surrogatepass") + payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    parts = status_line.split(b" ")
    assert len(parts) >= 2 and parts[0] == b"HTTP/1.1", data[:200]
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]


def _seed(api: Api) -> None:
    """Proxies the fuzzer's paths can hit: ``a`` with a toxic, and ``b`` disabled."""
    api.proxy("a", "127.0.0.1:1")
    api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 5}})
    api.proxy("b", "127.0.0.1:1", enabled=False)


def _cleanup(api: Api) -> None:
    for name in api("GET", "/proxies").json():
        if name != STREAM:
            api("DELETE", "/proxies/" + quote(name, safe=""))


@settings(
    max_examples=int(os.environ.get("CHAOSKIT_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(method=methods, path=paths, body=bodies, echo_payload=st.binary(min_size=1, max_size=2048))
def test_any_request_gets_an_answer_and_the_stream_is_unharmed(
    rig: tuple[Api, socket.socket], method: str, path: str, body: str, echo_payload: bytes
) -> None:
    api, stream = rig
    assume(STREAM not in path and STREAM not in unquote(path) and STREAM not in body)
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    assume(all(v in SAFE_LISTEN for v in _listens(parsed)))
    _seed(api)
    try:
        status, reply = _send(api, method, path, body)
        event(f"{method if method.isalpha() else 'bad'} -> {status}")
        if status >= 500:
            error = json.loads(reply)["error"]
            assert status == 500 and error.startswith(LISTEN_ERRORS), (status, reply)
        else:
            assert 200 <= status < 500, (status, reply)
        stream.sendall(echo_payload)
        assert recv_exactly(stream, len(echo_payload)) == echo_payload
        assert api("GET", "/version").status == 200
        toxics = api("GET", f"/proxies/{STREAM}").json()
        assert toxics["enabled"] is True and toxics["toxics"] == []
    finally:
        _cleanup(api)


routes = st.sampled_from(
    [
        "/proxies",
        "/populate",
        "/proxies/a",
        "/proxies/b",
        "/proxies/a/toxics",
        "/proxies/b/toxics",
        "/proxies/a/toxics/latency_downstream",
        "/proxies/b/toxics/latency_downstream",
        "/reset",
    ]
)


@settings(
    max_examples=int(os.environ.get("CHAOSKIT_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PATCH", "DELETE", "GET"]),
    path=routes,
    body=fields.map(json.dumps) | st.lists(fields, max_size=3).map(json.dumps),
    echo_payload=st.binary(min_size=1, max_size=2048),
)
def test_known_routes_with_arbitrary_bodies(
    rig: tuple[Api, socket.socket], method: str, path: str, body: str, echo_payload: bytes
) -> None:
    test_any_request_gets_an_answer_and_the_stream_is_unharmed.hypothesis.inner_test(  # type: ignore[attr-defined]
        rig, method, path, body, echo_payload
    )
