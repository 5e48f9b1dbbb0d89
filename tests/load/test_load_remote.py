"""Load children on "another host": ``chaoskit load child --listen`` on 127.0.0.1, driven over TCP with the same
JSON-lines protocol as a local child's pipes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.errors import ChaoskitError, LoadError
from chaoskit.load import listen
from chaoskit.load.driver import LoadPlan, LocustLoad
from chaoskit.load.listen import StartError, parse_start, start_line
from chaoskit.load.protocol import ChildCommand, ChildConfig, Command
from chaoskit.load.remote import connect
from tests.load.conftest import Target, drive, serving, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1, reruns_delay=2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Listener:
    def __init__(self) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chaoskit", "load", "child", "--listen", self.address, "--max-duration", "120"],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().decode().split() == ["listening", self.address]

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    yield from serving(Listener())


def test_a_local_and_a_remote_child_merge_and_count_every_request(
    listener: Listener, target: Target, locustfile: Path
) -> None:
    """The remote child runs the locustfile's source shipped with its start line, as its own copy."""
    for _ in range(2):  # a listener serves one run after another
        target.reset()
        config = ChildConfig(
            index=0, users=6, spawn_rate=100.0, rate=300.0, locustfile=str(locustfile), host=target.url,
            max_duration=60.0,
        )  # fmt: skip
        load = LocustLoad(LoadPlan(config, processes=1, remote=(listener.address,)))
        run = asyncio.run(drive(load, 2.0))
        served = target.served()
        assert sorted(load.hellos) == [0, 1] and len({h["pid"] for h in load.hellos.values()}) == 2
        assert served - 6 <= run.total() <= served  # in flight at stop: at most one per user
        assert run.errors("/err") == run.total("/err") > 0
        assert all(len(ws) == len({w.name for w in ws}) for ws in run.slots().values())
        assert not any(w.limited for w in sorted(run.windows, key=lambda w: w.start)[8:-8])  # both report in time
        steady = [sum(w.count for w in ws) for _, ws in sorted(run.slots().items())[2:-3]]
        assert 200 <= sum(steady) / len(steady) * 4 <= 400  # 300/s split over the two children
        assert wait_gone([int(load.hellos[1]["pid"])], 5.0) == []  # the remote child stopped with the run
    assert listener.proc.poll() is None


def test_only_remote_children(listener: Listener, target: Target) -> None:
    config = ChildConfig(
        index=0, users=2, spawn_rate=100.0, http={"host": target.url, "requests": [{"path": "/"}]}, max_duration=60
    )
    run = asyncio.run(drive(LocustLoad(LoadPlan(config, processes=0, remote=(listener.address,))), 1.0))
    assert run.total("/") > 0


def test_a_dropped_connection_stops_the_remote_child(listener: Listener, target: Target) -> None:
    config = ChildConfig(index=0, users=2, spawn_rate=100.0, http={"host": target.url, "requests": [{"path": "/"}]})
    with socket.create_connection(listener.address.split(":")) as conn:  # type: ignore[arg-type]
        conn.sendall(start_line(config))
        hello = json.loads(conn.makefile("rb").readline())
        assert hello["type"] == "hello"
    assert wait_gone([int(hello["pid"])], 10.0) == []


def _start(changes: dict[str, Any], **extra: Any) -> bytes:
    """A start line whose configuration is a valid one with ``changes``, plus ``extra`` top-level fields."""
    config = json.loads(HTTP_CONFIG.to_json()) | changes
    return json.dumps({"v": 1, "config": config, **extra}).encode() + b"\n"


HTTP_CONFIG = ChildConfig(
    index=0, users=1, spawn_rate=10.0, http={"host": "http://127.0.0.1:9", "requests": [{"path": "/"}]}
)


def test_a_bad_start_line_gets_an_error_line_and_the_listener_serves_on(listener: Listener) -> None:
    """Whatever one connection sends, the listener (and every other driver's children) go on."""
    for line, expected in [
        (b"hello\n", "must be a JSON start line"),
        (b'{"v": 2, "config": {}}\n', "version 2 is not 1"),
        (b'{"v": 1, "config": {"users": 3}}\n', "no valid child configuration"),
        (b'{"v": 1, "config": [1]}\n', "config is not an object"),
        (_start({}, locustfile="x"), '"locustfile" must be an object'),
        (_start({}, locustfile={"name": "lf.py", "source": "\ud800"}), "cannot be written"),
        (_start({"max_duration": float("inf")}), "max_duration must be"),
        (_start({"loglevel": "LOUD"}), "loglevel must be one of"),
    ]:
        with socket.create_connection(listener.address.split(":")) as conn:  # type: ignore[arg-type]
            conn.sendall(line)
            reply = json.loads(conn.makefile("rb").readline())
        assert reply["type"] == "error" and expected in reply["message"], reply
    assert listener.proc.poll() is None


def test_an_unreachable_listener_is_a_load_error() -> None:
    config = ChildConfig(
        index=0, users=1, spawn_rate=1.0, http={"host": "http://127.0.0.1:9", "requests": [{"path": "/"}]}
    )
    with pytest.raises(LoadError, match=r"cannot reach the load child listening on 127\.0\.0\.1:"):
        asyncio.run(drive(LocustLoad(LoadPlan(config, processes=0, remote=(f"127.0.0.1:{free_port()}",))), 0.1))
    with pytest.raises(LoadError, match="HOST:PORT"):
        asyncio.run(drive(LocustLoad(LoadPlan(config, processes=0, remote=("nowhere",))), 0.1))


def test_a_shipped_locustfile_is_written_by_name_only(tmp_path: Path) -> None:
    config = ChildConfig(index=0, users=1, spawn_rate=1.0, locustfile="/somewhere/else/../../etc/lf.py")
    got = parse_start(start_line(config, "from locust import User\n"), tmp_path)
    assert got.locustfile == str(tmp_path / "lf.py")
    assert (tmp_path / "lf.py").read_text() == "from locust import User\n"


@pytest.mark.parametrize(
    ("changes", "extra", "expected"),
    [
        ({}, {"locustfile": "x"}, '"locustfile" must be an object'),
        ({}, {"locustfile": {"name": 3, "source": ""}}, '"name" must be a string'),
        ({}, {"locustfile": {"name": "lf.py", "source": "\ud800"}}, "cannot be written"),
        ({"locustfile": "/etc/lf.py", "http": None}, {}, "without its source"),
        ({"master": {"bind_host": "0.0.0.0", "bind_port": 5557, "expect_workers": 1}}, {}, "Locust master"),
        ({"max_duration": -1}, {}, "max_duration must be a number > 0"),
        ({"max_duration": 1e12}, {}, "max_duration must be a number > 0"),
        ({"loglevel": "LOUD"}, {}, "loglevel must be one of"),
        ({"users": "3"}, {}, "users must be an integer"),
        ({"thresholds": 5}, {}, "no valid child configuration"),
        ({"master": [1]}, {}, "master is not an object"),
        ({"nonsense": 1}, {}, "unexpected keyword"),
    ],
)
def test_a_malformed_start_line_is_a_start_error(
    changes: dict[str, Any], extra: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    with pytest.raises(StartError, match=expected):
        parse_start(_start(changes, **extra), tmp_path)


class Serving:
    """:func:`listen.serve` on a thread, on a free port of 127.0.0.1."""

    def __init__(self, **kwargs: Any) -> None:
        ready = threading.Event()
        self.port = 0

        def on_ready(host: str, port: int) -> None:
            self.port = port
            ready.set()

        self.thread = threading.Thread(
            target=listen.serve, args=("127.0.0.1", 0), kwargs=kwargs | {"on_ready": on_ready}
        )
        self.thread.start()
        assert ready.wait(10)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port))
        conn.settimeout(15)
        return conn


def _reply(conn: socket.socket) -> dict[str, Any]:
    return dict(json.loads(conn.makefile("rb").readline()))


def test_a_slow_client_holds_up_nobody_and_gets_an_error_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listen, "START_TIMEOUT", 1.5)
    serving = Serving(max_duration=6.0, max_children=4)
    with serving.connect() as slow:
        slow.sendall(b'{"v": 1')
        began = time.monotonic()
        with serving.connect() as other:
            other.sendall(b"hello\n")
            assert "must be a JSON start line" in _reply(other)["message"]
        assert time.monotonic() - began < 1.0  # answered while the slow one is still being read
        with contextlib.suppress(OSError):
            for _ in range(10):  # a byte now and then does not extend the deadline
                time.sleep(0.3)
                slow.sendall(b" ")
        reply = _reply(slow)
    assert reply["type"] == "error" and "no whole start line within 1.5s" in reply["message"], reply
    serving.thread.join(15)


def test_max_children_the_clipped_max_duration_and_the_workdir(target: Target, locustfile: Path) -> None:
    serving = Serving(max_duration=40.0, max_children=1)
    config = ChildConfig(index=0, users=1, spawn_rate=10.0, locustfile=str(locustfile), host=target.url)
    with serving.connect() as first:
        first.sendall(start_line(config, locustfile.read_text()))
        pid = int(_reply(first)["pid"])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert json.loads(argv[argv.index(b"--config") + 1])["max_duration"] <= 40.0  # not the config's 3600
        workdir = Path(os.readlink(f"/proc/{pid}/cwd"))
        assert (workdir / "locustfile.py").read_text() == locustfile.read_text()
        with serving.connect() as second:
            second.sendall(start_line(config, locustfile.read_text()))
            assert "--max-children 1" in _reply(second)["message"]
    assert wait_gone([pid], 10.0) == []
    deadline = time.monotonic() + 5
    while workdir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workdir.exists()  # removed when its child was reaped, not when the listener exits
    with serving.connect() as third:  # the slot is free again
        third.sendall(b"hello\n")
        assert "must be a JSON start line" in _reply(third)["message"]
    serving.thread.join(50)


def test_a_child_that_ignores_sigterm_is_killed_when_the_listener_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listen, "STOP_GRACE", 0.5)
    wedged = tmp_path / "wedged-python"
    wedged.write_text("#!/bin/sh\ntrap '' TERM\necho $$\nexec sleep 60\n")
    wedged.chmod(0o755)
    serving = Serving(max_duration=2.0, python=str(wedged))
    with serving.connect() as conn:
        conn.sendall(start_line(HTTP_CONFIG))
        pid = int(conn.makefile("rb").readline())
    serving.thread.join(10)
    assert not serving.thread.is_alive()
    assert wait_gone([pid], 1.0) == []


def test_stopping_a_remote_child_half_closes_so_its_last_windows_come_back(listener: Listener, target: Target) -> None:
    config = ChildConfig(index=0, users=2, spawn_rate=100.0, http={"host": target.url, "requests": [{"path": "/"}]})

    async def run() -> tuple[list[dict[str, Any]], int]:
        child = await connect(listener.address, config)
        assert child.stdout is not None and child.stdin is not None
        messages = [json.loads(await child.stdout.readline())]
        await asyncio.sleep(1.0)
        child.stdin.write(ChildCommand(Command.STOP).to_line())
        await child.stdin.drain()
        child.stdin.close()
        while line := await asyncio.wait_for(child.stdout.readline(), 10):
            messages.append(json.loads(line))
        return messages, await asyncio.wait_for(child.wait(), 5)

    messages, code = asyncio.run(run())
    assert messages[0]["type"] == "hello" and code == 0
    assert messages[-1] == {"v": 1, "type": "stopped", "child": 0, "reason": "stop"}
    assert any(m["type"] == "window" for m in messages)


def test_wait_after_kill_ends_with_unread_data_buffered() -> None:
    async def run() -> int:
        async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b'{"v": 1, "type": "error", "child": 0, "message": "x"}\n' * 20000)
            await writer.drain()
            await asyncio.sleep(30)

        server = await asyncio.start_server(chatty, "127.0.0.1", 0)
        async with server:
            child = await connect(f"127.0.0.1:{server.sockets[0].getsockname()[1]}", HTTP_CONFIG)
            await asyncio.sleep(0.3)  # the lines arrive, nobody reads them
            child.kill()
            return await asyncio.wait_for(child.wait(), 2)

    assert asyncio.run(run()) == -9


def test_connect_times_out_when_the_start_line_cannot_be_sent(tmp_path: Path) -> None:
    """A peer that accepts connections but never reads: the whole handshake is bounded, a ChaoskitError."""
    big = tmp_path / "big.py"
    big.write_text("#" * (64 * 2**20))
    config = ChildConfig(index=0, users=1, spawn_rate=1.0, locustfile=str(big))
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, never accepts
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(LoadError, match="timed out") as info:
            asyncio.run(asyncio.wait_for(connect(address, config, timeout=1.0), 10))
    assert isinstance(info.value, ChaoskitError)


def _child(config_json: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaoskit.load.child", "--config", config_json],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"max_duration": float("inf")}, "max_duration must be"), ({"loglevel": "LOUD"}, "loglevel must be one of")],
)
def test_a_child_answers_a_bad_configuration_with_an_error_line(changes: dict[str, Any], expected: str) -> None:
    proc = _child(json.dumps(json.loads(HTTP_CONFIG.to_json()) | changes))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and b"Traceback" not in err
    message = json.loads(out)
    assert message["type"] == "error" and expected in message["message"], message


def test_a_child_stops_on_a_command_line_past_the_limit(target: Target) -> None:
    config = ChildConfig(
        index=0, users=1, spawn_rate=10.0, http={"host": target.url, "requests": [{"path": "/"}]}, max_duration=20
    )
    proc = _child(config.to_json())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert json.loads(proc.stdout.readline())["type"] == "hello"
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b"x" * (2**20 + 2**16))
            proc.stdin.flush()
        types = {}
        while line := proc.stdout.readline():
            message = json.loads(line)
            types[message["type"]] = message
        assert "longer than 1048576 bytes" in types["error"]["message"]
        assert types["stopped"]["reason"] == "command line too long"
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
