"""Distributed load: a Locust master inside a load child, workers joining it on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.errors import LoadError
from chaoskit.load.cli import load as load_command
from chaoskit.load.driver import LoadPlan, LocustLoad
from chaoskit.load.protocol import ChildConfig, MasterConfig
from tests.load.conftest import Target, drive, wait_gone

# timing-bound on a shared 2-core machine: one rerun (reported as such) before a failure counts
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1, reruns_delay=2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def master_config(target: Target, port: int, workers: int = 2, **kw: object) -> ChildConfig:
    base: dict[str, object] = {
        "index": 0,
        "users": 6,
        "spawn_rate": 100.0,
        "rate": 300.0,
        "thresholds": (0.002,),
        "http": {"host": target.url, "requests": [{"path": "/", "name": "home", "weight": 4}, {"path": "/err"}]},
        "host": target.url,
        "max_duration": 60.0,
        "master": MasterConfig("127.0.0.1", port, workers, 30.0),
    }
    base.update(kw)
    return ChildConfig(**base)  # type: ignore[arg-type]


def test_master_and_two_local_workers_merge_windows_and_count_every_request(target: Target) -> None:
    target.reset()
    load = LocustLoad(LoadPlan(master_config(target, free_port()), local_workers=2))
    run = asyncio.run(drive(load, 2.5))
    served = target.served()
    assert load.hellos[0]["mode"] == "master" and load.hellos[0]["workers"] == 2
    assert served - 6 <= run.total() <= served  # in flight at stop: at most one per user
    assert run.errors("/err") == run.total("/err") > 0 and run.errors("home") == 0
    assert all(len(ws) == len({w.name for w in ws}) for ws in run.slots().values())
    assert all(w.slower.keys() == {0.002} for w in run.windows)
    steady = [sum(w.count for w in ws) for _, ws in sorted(run.slots().items())[2:-6]]
    assert 200 <= sum(steady) / len(steady) * 4 <= 400  # 300/s across both workers
    assert wait_gone(load.pids, 2.0) == []


def test_plain_locust_workers_get_the_window_code_from_the_master(target: Target) -> None:
    """A host without chaoskit: ``locust --worker -f -`` downloads the aggregation code with the locustfile."""
    port = free_port()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "locust", "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
             "-f", "-", "--loglevel", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        target.reset()
        run = asyncio.run(drive(LocustLoad(LoadPlan(master_config(target, port))), 1.5))
        assert target.served() - 6 <= run.total() <= target.served()
        assert run.total("home") > 100
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(10)


def test_workers_that_never_join_are_a_load_error(target: Target) -> None:
    cfg = master_config(target, free_port(), master=MasterConfig("127.0.0.1", free_port(), 2, 1.0))
    with pytest.raises(LoadError, match="only 0 of 2 Locust workers joined"):
        asyncio.run(drive(LocustLoad(LoadPlan(cfg)), 0.1))


def test_load_worker_command_runs_the_chaoskit_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda exe, argv: calls.append(argv))
    result = CliRunner().invoke(load_command, ["worker", "--master", "10.0.0.9", "--processes", "2"])
    assert result.exit_code == 0, result.output
    argv = calls[0]
    assert argv[1:3] == ["-m", "chaoskit.load.worker"]
    assert argv[argv.index("--master-host") + 1] == "10.0.0.9" and argv[argv.index("--master-port") + 1] == "5557"
    assert argv[argv.index("-f") + 1] == "-" and argv[argv.index("--processes") + 1] == "2"
    bad = CliRunner().invoke(load_command, ["worker", "--master", "host:port"])
    assert bad.exit_code != 0 and "HOST:PORT" in bad.output


def test_worker_locustfile_argv(tmp_path: Path) -> None:
    from chaoskit.load.worker import locust_argv, parse_args

    argv = locust_argv(parse_args(["--master-host", "127.0.0.1", "--master-port", "6000", "-f", "x.py"]))
    assert argv[:2] == ["locust", "--worker"] and "6000" in argv and "x.py" in argv
