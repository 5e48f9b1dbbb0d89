"""Load children on "another host": ``chaoskit load child --listen`` on 127.0.0.1, driven over TCP with the same
JSON-lines protocol as a local child's pipes."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.errors import LoadError
from chaoskit.load.driver import LoadPlan, LocustLoad
from chaoskit.load.listen import parse_start, start_line
from chaoskit.load.protocol import ChildConfig
from tests.load.conftest import Target, drive, wait_gone

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
    lis = Listener()
    yield lis
    lis.proc.terminate()
    lis.proc.wait(10)


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


def test_a_bad_start_line_gets_an_error_line_and_the_listener_serves_on(listener: Listener) -> None:
    for line, expected in [
        (b"hello\n", "must be a JSON start line"),
        (b'{"v": 2, "config": {}}\n', "version 2 is not 1"),
        (b'{"v": 1, "config": {"users": 3}}\n', "no valid child configuration"),
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
