"""The http probe against a real HTTP server on 127.0.0.1 (an ephemeral port, served from a thread)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from chaoskit.errors import ProbeError
from chaoskit.probes.http import HttpProbe, HttpProbeSpec, parse_url
from chaoskit.registry import Observation


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, *, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._send(200, b"hello world")
        elif self.path == "/fail":
            self._send(503, b'{"error": "store unreachable"}')
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/slow"):
            time.sleep(float(self.path.partition("?s=")[2] or 1.0))
            self._send(200, b"slow")
        elif self.path == "/eof":
            self._send(200, b"no length, read to the end", length=False)
        elif self.path == "/chunked":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (b"first part, ", b"needle", b", last"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/headers":
            self._send(200, f"x-probe={self.headers.get('X-Probe')} host={self.headers.get('Host')}".encode())
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(201, b"got " + body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a probe that timed out hung up on a slow answer: expected, not worth a traceback


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def observe(probe: HttpProbe) -> Observation:
    return asyncio.run(probe.observe())


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_default_status_accepts_2xx_and_3xx(server: str) -> None:
    ok = observe(HttpProbe(f"{server}/ok"))
    assert ok.ok and ok.detail == "status 200" and ok.latency > 0
    assert observe(HttpProbe(f"{server}/redirect")).ok


def test_a_5xx_fails_and_says_status_and_body(server: str) -> None:
    obs = observe(HttpProbe(f"{server}/fail"))
    assert not obs.ok
    assert obs.detail == 'status 503 (expected 2xx or 3xx): {"error": "store unreachable"}'


def test_explicit_status_list(server: str) -> None:
    assert observe(HttpProbe(f"{server}/fail", status=[500, 503])).ok
    obs = observe(HttpProbe(f"{server}/ok", status=204))
    assert not obs.ok and obs.detail.startswith("status 200 (expected 204)")
    assert observe(HttpProbe(f"{server}/nothing-here", status=404)).ok


def test_contains_checks_the_body(server: str) -> None:
    assert observe(HttpProbe(f"{server}/ok", contains="world")).ok
    obs = observe(HttpProbe(f"{server}/ok", contains="planet"))
    assert not obs.ok and obs.detail == "status 200, body lacks 'planet'"


def test_chunked_and_read_to_eof_bodies(server: str) -> None:
    assert observe(HttpProbe(f"{server}/chunked", contains="needle")).ok
    assert not observe(HttpProbe(f"{server}/chunked", contains="first part, needle, last!")).ok
    assert observe(HttpProbe(f"{server}/eof", contains="read to the end")).ok


def test_max_latency_turns_a_slow_answer_into_a_failure(server: str) -> None:
    obs = observe(HttpProbe(f"{server}/slow?s=0.3", max_latency=0.05, timeout=10))
    assert not obs.ok
    assert obs.latency >= 0.3
    assert "slower than max_latency 0.05s" in obs.detail


def test_timeout(server: str) -> None:
    started = time.perf_counter()
    obs = observe(HttpProbe(f"{server}/slow?s=3", timeout=0.3))
    assert not obs.ok and obs.detail == "timed out after 0.3s"
    assert 0.3 <= obs.latency < 2.5
    assert time.perf_counter() - started < 2.5


def test_refused_port() -> None:
    obs = observe(HttpProbe(f"http://127.0.0.1:{free_port()}/health", timeout=5))
    assert not obs.ok and obs.detail == "connection refused"


def test_post_with_body_and_headers(server: str) -> None:
    obs = observe(HttpProbe(f"{server}/x", method="post", body="payload", status=201, contains="got payload"))
    assert obs.ok, obs.detail
    assert observe(HttpProbe(f"{server}/headers", headers={"X-Probe": "yes"}, contains="x-probe=yes")).ok
    port = server.rsplit(":", 1)[1]
    assert observe(HttpProbe(f"{server}/headers", contains=f"host=127.0.0.1:{port}")).ok


def test_not_http_at_all() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        obs = observe(HttpProbe(f"http://127.0.0.1:{port}/", timeout=5))
        thread.join(5)
    assert not obs.ok and obs.detail.startswith("not an HTTP response")


# ----------------------------------------------------------------------------------------------- the spec

spec_adapter = TypeAdapter(HttpProbeSpec)


def test_spec_defaults_and_units() -> None:
    spec = spec_adapter.validate_python(
        {"name": "health", "type": "http", "url": "http://127.0.0.1:8080/health", "max_latency": "250ms"}
    )
    assert spec.method == "GET" and spec.status is None and spec.max_latency == 0.25 and spec.timeout == 5.0
    probe = HttpProbe.from_spec(spec)
    assert (probe.url.host, probe.url.port, probe.url.target) == ("127.0.0.1", 8080, "/health")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "ftp://127.0.0.1/", "expected an http:// or https:// URL"),
        ("url", "http:///nohost", "has no host"),
        ("url", "http://127.0.0.1:99999/", "not a valid URL"),
        ("status", 99, "between 100 and 599"),
        ("status", [], "at least one status code"),
        ("headers", {"X-Evil": "a\r\nInjected: yes"}, "invalid header"),
        ("method", "GET /", "should match pattern"),
        ("max_latency", "fast", "expected a duration"),
    ],
)
def test_spec_rejects(field: str, value: object, message: str) -> None:
    data = {"name": "p", "type": "http", "url": "http://127.0.0.1/", field: value}
    with pytest.raises(ValidationError, match=message):
        spec_adapter.validate_python(data)


def test_constructor_raises_probe_error_for_a_bad_url() -> None:
    with pytest.raises(ProbeError, match="expected an http:// or https:// URL"):
        HttpProbe("127.0.0.1:8080/health")


def test_parse_url_keeps_query_and_default_port() -> None:
    url = parse_url("http://127.0.0.1/health?deep=0")
    assert (url.port, url.target, url.tls) == (80, "/health?deep=0", False)
    assert parse_url("https://127.0.0.1/").port == 443


# ------------------------------------------------------------------------------------------------- https


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_https_verifies_the_certificate(tls_server: str) -> None:
    obs = observe(HttpProbe(f"{tls_server}/ok", timeout=10))
    assert not obs.ok and "CERTIFICATE_VERIFY_FAILED" in obs.detail


def test_https_without_verification(tls_server: str) -> None:
    obs = observe(HttpProbe(f"{tls_server}/ok", verify=False, contains="hello", timeout=10))
    assert obs.ok, obs.detail
