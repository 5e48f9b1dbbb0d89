"""The typed client's errors and timeouts, and ``chaoskit proxy serve`` as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.proxy.client import (
    ApiUnavailable,
    BadRequest,
    Conflict,
    NotFound,
    ToxiproxyClient,
    int_attributes,
)
from chaoskit.proxy.server import ServerThread
from tests.proxy.conftest import EchoServer


def test_typed_errors_carry_status_and_message(server: ServerThread, echo: EchoServer) -> None:
    client = ToxiproxyClient(server.url)
    assert client.version() == "2.12.0"
    proxy = client.create_proxy("a", echo.addr, "127.0.0.1:0")
    assert proxy.enabled and proxy.listen.startswith("127.0.0.1:")
    with pytest.raises(Conflict) as conflict:
        client.create_proxy("a", echo.addr)
    assert conflict.value.status == 409 and conflict.value.message == "proxy already exists"
    with pytest.raises(NotFound) as missing:
        client.toxic("a", "nope")
    assert missing.value.message == "toxic not found" and missing.value.path == "/proxies/a/toxics/nope"
    with pytest.raises(BadRequest, match="invalid toxic type"):
        client.add_toxic("a", "nope")
    toxic = client.add_toxic("a", "latency", attributes={"latency": 10.0}, toxicity=0.5)
    assert toxic.attributes == {"latency": 10, "jitter": 0} and toxic.toxicity == 0.5
    assert client.update_toxic("a", toxic.name, attributes={"jitter": 2}).attributes == {"latency": 10, "jitter": 2}
    assert client.disable("a").enabled is False
    assert client.enable("a").enabled is True
    assert [p.name for p in client.populate([{"name": "b", "upstream": echo.addr, "listen": "127.0.0.1:0"}])] == ["b"]
    client.reset()
    assert client.toxics("a") == []
    client.delete_proxy("a")
    assert set(client.proxies()) == {"b"}


def test_attributes_must_be_integers() -> None:
    assert int_attributes({"rate": 2.0}) == {"rate": 2}
    with pytest.raises(ValueError, match="integer"):
        int_attributes({"rate": 1.5})
    with pytest.raises(ValueError, match="integer"):
        int_attributes({"rate": True})


def test_nothing_listening_is_api_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ApiUnavailable) as exc:
        ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=2).proxies()
    assert exc.value.status is None


def test_every_call_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = ToxiproxyClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        start = time.monotonic()
        with pytest.raises(ApiUnavailable, match="timed out"):
            client.version()
        assert time.monotonic() - start < 3


# ------------------------------------------------------------------------------------------------------ CLI


def _serve(*args: str, **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    return subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "proxy", "serve", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**base, "PYTHONUNBUFFERED": "1", **env},
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, "malloc"),  # the default: arenas are not pinned after a burst of connections
        (("--allocator", "pymalloc"), {}, None),
        ((), {"PYTHONMALLOC": "pymalloc"}, "pymalloc"),  # the environment wins
    ],
)
def test_serve_runs_on_the_allocator_it_is_given(
    args: tuple[str, ...], env: dict[str, str], expected: str | None
) -> None:
    proc = _serve("--port", "0", *args, **env)
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().split(" on ", 1)[1].strip()
        assert ToxiproxyClient(url).version()  # the same process (pid) serves after re-executing itself
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        found = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"PYTHONMALLOC=")]
        assert found == ([expected] if expected else [])
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path, echo: EchoServer) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "a", "upstream": echo.addr, "listen": "127.0.0.1:0"}]))
    proc = _serve("--port", "0", "--config", str(config))
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        assert lines[0].startswith("proxy a: 127.0.0.1:")
        url = lines[1].split(" on ", 1)[1].strip()
        assert set(ToxiproxyClient(url).proxies()) == {"a"}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "stopped" in err and "Traceback" not in err


def test_serve_reports_a_taken_port_and_a_bad_config(tmp_path: Path, server: ServerThread) -> None:
    proc = _serve("--port", str(server.server.port))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "already in use" in err and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "a"}]')
    proc = _serve("--port", "0", "--config", str(bad))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "missing required field: upstream at proxy 1" in err and "Traceback" not in err
    proc = _serve("--port", "0", "--config", str(tmp_path / "missing.json"))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "cannot read" in err and "Traceback" not in err
