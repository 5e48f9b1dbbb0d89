"""Conformance of the embedded server with the Toxiproxy 2.12 HTTP API (reference/toxiproxy-api.md §1)."""

from __future__ import annotations

import socket

import pytest

from chaoskit.proxy.server import ServerThread
from tests.proxy.conftest import Api, EchoServer, connect, recv_exactly, wait_closed


def _error(reply: object, status: int, message: str) -> None:
    assert reply.status == status, reply.body  # type: ignore[attr-defined]
    assert reply.json() == {"error": message, "status": status}  # type: ignore[attr-defined]
    assert reply.body.endswith(b"\n")  # type: ignore[attr-defined]
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"  # type: ignore[attr-defined]
    assert reply.headers["x-content-type-options"] == "nosniff"  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------- routing


def test_unknown_path_is_a_plain_404_without_request_id(api: Api) -> None:
    for path in ("/nope", "/proxies/", "/proxies/a/toxics/", "/", "/proxies/a/b"):
        reply = api("GET", path)
        assert reply.status == 404, path
        assert reply.body == b"404 page not found\n"
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        assert "x-toxiproxy-request-id" not in reply.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/proxies/x"), ("GET", "/populate"), ("HEAD", "/version"), ("DELETE", "/proxies"), ("GET", "/reset")],
)
def test_wrong_method_is_an_empty_405(api: Api, method: str, path: str) -> None:
    reply = api(method, path)
    assert reply.status == 405
    assert reply.body == b""
    assert "x-toxiproxy-request-id" not in reply.headers


def test_matched_routes_carry_a_request_id(api: Api) -> None:
    reply = api("GET", "/proxies")
    assert len(reply.headers["x-toxiproxy-request-id"]) == 20


def test_browsers_are_refused(api: Api) -> None:
    reply = api("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert reply.status == 403
    assert reply.body == b"User agent not allowed\n"


def test_version_is_exact(api: Api) -> None:
    reply = api("GET", "/version")
    assert reply.status == 200
    assert reply.body == b'{"version": "2.12.0"}\n'
    assert reply.headers["content-type"] == "application/json;charset=utf-8"


def test_metrics_route_exists_only_when_enabled(api: Api) -> None:
    assert api("GET", "/metrics").status == 404


# ------------------------------------------------------------------------------------------------- proxies


def test_create_proxy_returns_201_and_the_bound_address(api: Api, echo: EchoServer) -> None:
    reply = api("POST", "/proxies", {"name": "db", "upstream": echo.addr, "listen": "localhost:0"})
    assert reply.status == 201
    assert reply.headers["content-type"] == "application/json"
    assert not reply.body.endswith(b"\n")
    data = reply.json()
    assert list(data) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert data["listen"].startswith("127.0.0.1:") and not data["listen"].endswith(":0")
    assert data["enabled"] is True and data["toxics"] == []
    with connect(data["listen"]) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"


def test_create_proxy_errors_in_order(api: Api, echo: EchoServer) -> None:
    _error(api("POST", "/proxies", raw=b""), 400, "bad request body: EOF")
    _error(api("POST", "/proxies", {"upstream": echo.addr}), 400, "missing required field: name")
    _error(api("POST", "/proxies", {"name": "a"}), 400, "missing required field: upstream")
    reply = api("POST", "/proxies", {"name": 5, "upstream": echo.addr})
    assert reply.status == 400 and reply.json()["error"].startswith("bad request body: json: cannot unmarshal")
    api.proxy("a", echo.addr)
    _error(api("POST", "/proxies", {"name": "a", "upstream": echo.addr}), 409, "proxy already exists")


def test_create_proxy_on_a_taken_port_is_a_500_and_leaves_nothing(api: Api, echo: EchoServer) -> None:
    reply = api("POST", "/proxies", {"name": "a", "upstream": "x:1", "listen": echo.addr})
    assert reply.status == 500
    assert reply.json()["error"] == f"listen tcp {echo.addr}: bind: address already in use"
    assert api("GET", "/proxies").json() == {}
    reply = api("POST", "/proxies", {"name": "b", "upstream": "x:1", "listen": "local373"})
    assert reply.status == 500
    assert reply.json()["error"] == "listen tcp: address local373: missing port in address"


def test_json_keys_match_case_insensitively_and_trailing_bytes_are_ignored(api: Api, echo: EchoServer) -> None:
    body = b'{"Name":"a","UPSTREAM":"%s","LiStEn":"127.0.0.1:0"} trailing garbage' % echo.addr.encode()
    reply = api("POST", "/proxies", raw=body)
    assert reply.status == 201
    assert reply.json()["name"] == "a"


def test_created_disabled_keeps_listen_verbatim_and_reset_enables_it(api: Api, echo: EchoServer) -> None:
    reply = api("POST", "/proxies", {"name": "a", "upstream": echo.addr, "listen": "localhost:0", "enabled": False})
    assert reply.json()["listen"] == "localhost:0" and reply.json()["enabled"] is False
    assert api("POST", "/reset").status == 204
    data = api("GET", "/proxies/a").json()
    assert data["enabled"] is True and data["listen"].startswith("127.0.0.1:")


def test_list_is_keyed_and_sorted(api: Api, echo: EchoServer) -> None:
    for name in ("b", "c", "a"):
        api.proxy(name, echo.addr)
    reply = api("GET", "/proxies")
    assert list(reply.json()) == ["a", "b", "c"]


def test_get_and_delete(api: Api, echo: EchoServer) -> None:
    _error(api("GET", "/proxies/a"), 404, "proxy not found")
    _error(api("DELETE", "/proxies/a"), 404, "proxy not found")
    listen = api.proxy("a", echo.addr)["listen"]
    assert api("GET", "/proxies/a").json()["listen"] == listen
    reply = api("DELETE", "/proxies/a")
    assert reply.status == 204 and reply.body == b""
    with pytest.raises(OSError):
        connect(listen, timeout=1).close()


def test_disable_closes_connections_keeps_toxics_and_reenables_on_the_same_port(api: Api, echo: EchoServer) -> None:
    listen = api.proxy("a", echo.addr)["listen"]
    api("POST", "/proxies/a/toxics", {"type": "noop"})
    with connect(listen) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        reply = api("PATCH", "/proxies/a", {"enabled": False})
        assert reply.status == 200 and reply.json()["enabled"] is False
        assert reply.json()["listen"] == listen
        assert len(reply.json()["toxics"]) == 1
        assert sock.recv(10) == b""  # the client reads EOF
    with pytest.raises(ConnectionRefusedError):
        connect(listen, timeout=1).close()
    api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 1}})  # allowed while disabled
    reply = api("POST", "/proxies/a", {"enabled": True})  # POST updates too (deprecated)
    assert reply.json()["listen"] == listen
    with connect(listen) as sock:
        sock.sendall(b"y")
        assert recv_exactly(sock, 1) == b"y"


def test_update_ignores_name_and_moves_on_port_zero(api: Api, echo: EchoServer) -> None:
    listen = api.proxy("a", echo.addr)["listen"]
    _error(api("PATCH", "/proxies/zz", {}), 404, "proxy not found")
    _error(api("PATCH", "/proxies/a", raw=b""), 400, "bad request body: EOF")
    reply = api("PATCH", "/proxies/a", {"name": "renamed", "listen": "127.0.0.1:0"})
    assert reply.json()["name"] == "a"
    assert reply.json()["listen"] != listen


def test_update_to_the_same_port_keeps_connections_and_upstream_change_drops_them(api: Api, echo: EchoServer) -> None:
    listen = api.proxy("a", echo.addr)["listen"]
    port = listen.rsplit(":", 1)[1]
    with connect(listen) as sock:
        assert api("PATCH", "/proxies/a", {"listen": f"localhost:{port}"}).json()["listen"] == listen
        sock.sendall(b"still")
        assert recv_exactly(sock, 5) == b"still"
        reply = api("PATCH", "/proxies/a", {"upstream": echo.addr.replace("127.0.0.1", "localhost")})
        assert reply.json()["listen"] == listen
        assert sock.recv(10) == b""


def test_update_to_a_taken_port_is_500_and_leaves_it_disabled(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    reply = api("PATCH", "/proxies/a", {"listen": echo.addr})
    assert reply.status == 500
    assert "address already in use" in reply.json()["error"]
    data = api("GET", "/proxies/a").json()
    assert data["enabled"] is False and data["listen"] == echo.addr
    reply = api("PATCH", "/proxies/a", {"listen": "local373"})
    assert reply.status == 500 and reply.json()["error"] == "address local373: missing port in address"


# -------------------------------------------------------------------------------------------------- toxics


def test_toxic_defaults(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    assert api("GET", "/proxies/a/toxics").json() == []
    reply = api("POST", "/proxies/a/toxics", {"type": "latency"})
    assert reply.status == 200  # not 201
    assert reply.body == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency",'
        b'"stream":"downstream","toxicity":1}'
    )


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("slicer", {"average_size": 1, "size_variation": 0, "delay": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
def test_every_toxic_type_lists_all_its_attributes(api: Api, echo: EchoServer, kind: str, attributes: dict) -> None:
    api.proxy("a", echo.addr)
    body = {"type": kind, "attributes": {"average_size": 1} if kind == "slicer" else {}}
    reply = api("POST", "/proxies/a/toxics", body)
    assert reply.status == 200, reply.body
    assert reply.json()["attributes"] == attributes


def test_toxic_create_errors_in_order(api: Api, echo: EchoServer) -> None:
    _error(api("POST", "/proxies/zz/toxics", {"type": "latency"}), 404, "proxy not found")
    api.proxy("a", echo.addr)
    _error(api("POST", "/proxies/a/toxics", raw=b""), 400, "bad request body: EOF")
    stream_error = "stream was invalid, can be either upstream or downstream"
    _error(api("POST", "/proxies/a/toxics", {"type": "nope", "stream": "sideways"}), 400, stream_error)
    _error(api("POST", "/proxies/a/toxics", {"type": "latency", "stream": ""}), 400, stream_error)
    _error(api("POST", "/proxies/a/toxics", {"type": "nope"}), 400, "invalid toxic type")
    _error(api("POST", "/proxies/a/toxics", {}), 400, "invalid toxic type")
    api("POST", "/proxies/a/toxics", {"type": "latency", "name": "x", "stream": "upstream"})
    # Names are unique across both directions, and the conflict is found before attributes are read.
    conflict = {"type": "latency", "name": "x", "attributes": {"latency": "soon"}}
    _error(api("POST", "/proxies/a/toxics", conflict), 409, "toxic already exists")
    reply = api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": "soon"}})
    assert reply.status == 400 and "cannot unmarshal string" in reply.json()["error"]
    reply = api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": 5, "name": "x"})
    assert reply.status == 400  # attributes that are not an object fail the first decode, before the 409


@pytest.mark.parametrize("value", [b"100.5", b"100.0", b'"100"', b"1e2", b"true"])
def test_integer_attributes_refuse_anything_but_integers(api: Api, echo: EchoServer, value: bytes) -> None:
    api.proxy("a", echo.addr)
    reply = api("POST", "/proxies/a/toxics", raw=b'{"type":"latency","attributes":{"latency":%s}}' % value)
    assert reply.status == 400
    assert reply.json()["error"].startswith("bad request body: json: cannot unmarshal")


def test_stream_is_case_insensitive_and_kept_verbatim(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    reply = api("POST", "/proxies/a/toxics", {"type": "latency", "stream": "UPSTREAM"})
    assert reply.json()["name"] == "latency_UPSTREAM"
    assert reply.json()["stream"] == "UPSTREAM"


def test_toxicity_is_a_float32_without_range_check(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    reply = api("POST", "/proxies/a/toxics", raw=b'{"type":"noop","name":"a","toxicity":0.30000000000000004}')
    assert b'"toxicity":0.3}' in reply.body
    assert api("POST", "/proxies/a/toxics", {"type": "noop", "name": "b", "toxicity": -1}).json()["toxicity"] == -1
    reply = api("POST", "/proxies/a/toxics", {"type": "noop", "name": "c", "toxicity": "1"})
    assert reply.status == 400


def test_toxics_list_upstream_first_in_insertion_order(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        api("POST", "/proxies/a/toxics", {"type": "noop", "name": name, "stream": stream})
    assert [t["name"] for t in api("GET", "/proxies/a/toxics").json()] == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in api("GET", "/proxies/a").json()["toxics"]] == ["u1", "u2", "d1", "d2"]


def test_toxic_update_merges_attributes_and_ignores_identity(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    api("POST", "/proxies/a/toxics", {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 10, "jitter": 2}})
    _error(api("PATCH", "/proxies/zz/toxics/latency_downstream", {}), 404, "proxy not found")
    _error(api("PATCH", "/proxies/a/toxics/nope", {}), 404, "toxic not found")
    _error(api("PATCH", "/proxies/a/toxics/latency_downstream", raw=b""), 400, "bad request body: EOF")
    reply = api(
        "PATCH",
        "/proxies/a/toxics/latency_downstream",
        {"attributes": {"latency": 50}, "name": "other", "type": "bandwidth", "stream": "upstream"},
    )
    assert reply.status == 200
    assert reply.json() == {
        "attributes": {"latency": 50, "jitter": 2},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
    }
    reply = api("POST", "/proxies/a/toxics/latency_downstream", {"toxicity": 1})
    assert reply.json()["toxicity"] == 1 and reply.json()["attributes"]["latency"] == 50


def test_toxic_get_and_delete(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    _error(api("GET", "/proxies/a/toxics/x"), 404, "toxic not found")
    _error(api("GET", "/proxies/zz/toxics/x"), 404, "proxy not found")
    api("POST", "/proxies/a/toxics", {"type": "noop", "name": "x"})
    assert api("GET", "/proxies/a/toxics/x").json()["type"] == "noop"
    reply = api("DELETE", "/proxies/a/toxics/x")
    assert reply.status == 204 and reply.body == b""
    _error(api("DELETE", "/proxies/a/toxics/x"), 404, "toxic not found")


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [
        ("bandwidth", {"rate": -1}),
        ("slicer", {"average_size": 0}),
        ("slicer", {"average_size": 2, "size_variation": 10}),
        ("latency", {"jitter": 2**62 + 1}),
    ],
)
def test_inputs_that_crash_toxiproxy_get_a_400(api: Api, echo: EchoServer, kind: str, attributes: dict) -> None:
    api.proxy("a", echo.addr)
    reply = api("POST", "/proxies/a/toxics", {"type": kind, "attributes": attributes})
    assert reply.status == 400
    assert "crashes Toxiproxy" in reply.json()["error"]
    assert api("GET", "/proxies/a/toxics").json() == []
    ok_attrs = {"average_size": 5} if kind == "slicer" else {}
    api("POST", "/proxies/a/toxics", {"type": kind, "name": "t", "attributes": ok_attrs})
    reply = api("PATCH", "/proxies/a/toxics/t", {"attributes": attributes})
    assert reply.status == 400
    assert api("GET", "/proxies/a/toxics/t").json()["attributes"] != {**ok_attrs, **attributes}


def test_reset_removes_toxics_and_enables_everything(api: Api, echo: EchoServer) -> None:
    api.proxy("a", echo.addr)
    api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 1000}})
    listen = api("PATCH", "/proxies/a", {"enabled": False}).json()["listen"]
    assert api("POST", "/reset", raw=b"ignored").status == 204
    data = api("GET", "/proxies/a").json()
    assert data["enabled"] is True and data["toxics"] == [] and data["listen"] == listen


# ------------------------------------------------------------------------------------------------ populate


def test_populate_creates_in_order(api: Api, echo: EchoServer) -> None:
    body = [{"name": n, "upstream": echo.addr, "listen": "127.0.0.1:0"} for n in ("b", "a")]
    body[1]["enabled"] = False
    reply = api("POST", "/populate", body)
    assert reply.status == 201
    assert [p["name"] for p in reply.json()["proxies"]] == ["b", "a"]
    assert [p["enabled"] for p in reply.json()["proxies"]] == [True, False]


def test_populate_validates_everything_first(api: Api, echo: EchoServer) -> None:
    body = [{"name": "a", "upstream": echo.addr}, {"upstream": echo.addr}]
    reply = api("POST", "/populate", body)
    assert reply.status == 400
    assert reply.json() == {"error": "missing required field: name at proxy 2", "status": 400, "proxies": None}
    reply = api("POST", "/populate", [{"name": "a"}])
    assert reply.json()["error"] == "missing required field: upstream at proxy 1"
    assert api("GET", "/proxies").json() == {}
    reply = api("POST", "/populate", {"name": "a"})
    assert reply.status == 400 and reply.json()["proxies"] is None
    assert api("POST", "/populate", []).body == b'{"proxies":null}'


def test_populate_keeps_an_identical_proxy_and_replaces_a_different_one(api: Api, echo: EchoServer) -> None:
    listen = api.proxy("a", echo.addr)["listen"]
    api("POST", "/proxies/a/toxics", {"type": "noop"})
    reply = api("POST", "/populate", [{"name": "a", "upstream": echo.addr, "listen": listen, "enabled": False}])
    kept = reply.json()["proxies"][0]
    assert kept["enabled"] is True and len(kept["toxics"]) == 1  # untouched: enabled is ignored
    reply = api("POST", "/populate", [{"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"}])
    replaced = reply.json()["proxies"][0]
    assert replaced["toxics"] == [] and replaced["listen"] != listen


def test_populate_stops_at_the_first_failure_and_keeps_what_was_done(api: Api, echo: EchoServer) -> None:
    body = [
        {"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"},
        {"name": "b", "upstream": echo.addr, "listen": echo.addr},
        {"name": "c", "upstream": echo.addr, "listen": "127.0.0.1:0"},
    ]
    reply = api("POST", "/populate", body)
    assert reply.status == 500
    data = reply.json()
    assert list(data) == ["error", "status", "proxies"]
    assert "address already in use" in data["error"] and data["status"] == 500
    assert [p["name"] for p in data["proxies"]] == ["a"]
    assert sorted(api("GET", "/proxies").json()) == ["a"]


# ---------------------------------------------------------------------------------------------------- HTTP


def test_chunked_body_and_expect_continue(api: Api, echo: EchoServer) -> None:
    body = b'{"name":"a","upstream":"%s","listen":"127.0.0.1:0"}' % echo.addr.encode()
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        request = (
            b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
        sock.sendall(request)
        data = b""
        while b"201 Created" not in data or not data.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created")


def test_keep_alive_serves_several_requests_on_one_connection(api: Api) -> None:
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\nGET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b'"2.12.0"') < 2:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk


def test_garbage_request_line_gets_400_and_the_server_lives_on(api: Api) -> None:
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert api("GET", "/version").status == 200


def test_metrics_count_bytes_when_connections_end(metrics_server: ServerThread, echo: EchoServer) -> None:
    api = Api(metrics_server.url)
    listen = api.proxy("a", echo.addr)["listen"]
    with connect(listen) as sock:
        sock.sendall(b"12345")
        assert recv_exactly(sock, 5) == b"12345"
    wait_closed(metrics_server, "a")
    reply = api("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    line = f'toxiproxy_proxy_received_bytes_total{{direction="upstream",listener="{listen}",proxy="a",'
    assert f'{line}upstream="{echo.addr}"}} 5' in reply.body.decode()


def test_metrics_count_sent_apart_from_received_and_escape_label_values(
    metrics_server: ServerThread, echo: EchoServer
) -> None:
    """A toxic that drops data makes sent < received; a name with a quote and a backslash stays one valid label."""
    from urllib.parse import quote

    name = 'odd"na\\me'
    api = Api(metrics_server.url)
    listen = api.proxy(name, echo.addr)["listen"]
    toxic = {"type": "limit_data", "stream": "downstream", "attributes": {"bytes": 3}}
    assert api("POST", f"/proxies/{quote(name)}/toxics", toxic).status == 200
    with connect(listen) as sock:
        sock.sendall(b"12345")
        assert recv_exactly(sock, 3) == b"123"
    wait_closed(metrics_server, name)
    text = api("GET", "/metrics").body.decode()
    label = f'direction="downstream",listener="{listen}",proxy="odd\\"na\\\\me",upstream="{echo.addr}"'
    assert f"toxiproxy_proxy_received_bytes_total{{{label}}} 5" in text
    assert f"toxiproxy_proxy_sent_bytes_total{{{label}}} 3" in text
    assert 'proxy="odd\\"na\\\\me"' in text and 'proxy="odd"na' not in text


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"http://[x/proxies", 400),
        (b"http://127.0.0.1/version", 200),
        (b"/version?x=%zz", 200),
        (b"/proxies/%zz", 400),
        (b"*", 404),
    ],
)
def test_request_targets(api: Api, target: bytes, status: int) -> None:
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 %d" % status)


def test_deep_json_is_read_or_refused_never_a_500(api: Api, echo: EchoServer) -> None:
    deep = b"[" * 900 + b"]" * 900
    body = b'{"name":"a","upstream":"%s","listen":"127.0.0.1:0","x":%s}' % (echo.addr.encode(), deep)
    assert api("POST", "/proxies", raw=body).status == 201
    _error(api("POST", "/proxies", raw=b"[" * 50_000), 400, "bad request body: exceeded max depth")
    reply = api("POST", "/proxies", raw=b'{"name":"\\ud800","upstream":"x:1","listen":"127.0.0.1:0"}')
    assert reply.status == 201 and reply.json()["name"] == "\ufffd"


def test_unusable_addresses_are_listen_errors_or_eof(api: Api) -> None:
    reply = api("POST", "/proxies", {"name": "a", "upstream": "x:1", "listen": "127.0.0.1:a\u0000b"})
    assert reply.status == 500 and reply.json()["error"].startswith("listen tcp: lookup tcp/")
    listen = api.proxy("b", "127.0.0.1:\u0000")["listen"]
    with connect(listen) as sock:
        assert sock.recv(10) == b""  # the dial fails: the client reads EOF
    assert api("GET", "/version").status == 200


def test_metrics_show_how_late_the_latency_toxic_released(metrics_server: ServerThread, echo: EchoServer) -> None:
    api = Api(metrics_server.url)
    listen = api.proxy("a", echo.addr)["listen"]
    api("POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 30}})
    with connect(listen) as sock:
        for _ in range(3):  # one round trip at a time: each echo is one chunk, released once
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
    text = api("GET", "/metrics").body.decode()
    down = 'direction="downstream",proxy="a"'
    name = "chaoskit_proxy_latency_lateness_seconds"
    assert f"{name}_count{{{down}}} 3" in text
    assert f'{name}_count{{direction="upstream",proxy="a"}} 0' in text
    assert f'{name}_bucket{{{down},le="+Inf"}} 3' in text
    total = float(text.split(f"{name}_sum{{{down}}} ")[1].split()[0])
    assert -0.003 < total / 3 < 0.5  # released around the due time: not early, not a whole delay late
