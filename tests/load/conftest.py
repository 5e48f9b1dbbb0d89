"""Fixtures for load tests: a real HTTP target on 127.0.0.1 in its own process, and helpers to drive load."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from chaoskit.load.driver import LocustLoad
from chaoskit.slo.window import Window

HERE = Path(__file__).resolve().parent


@dataclass
class Target:
    url: str
    proc: subprocess.Popen[bytes]

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return str(response.read().decode())

    def served(self) -> int:
        return int(self.get("/_count"))

    def reset(self) -> None:
        self.get("/_reset")


def start_target(max_seconds: float = 900.0) -> Target:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "httptarget.py"), "--port", "0", "--max-seconds", str(max_seconds)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().split()
    assert line[:1] == ["ready"], line
    return Target(f"http://127.0.0.1:{line[1]}", proc)


class _OwnsProcess(Protocol):
    proc: subprocess.Popen[bytes]


Owner = TypeVar("Owner", bound=_OwnsProcess)


def serving(owner: Owner) -> Iterator[Owner]:
    """The body of a fixture that yields ``owner`` and then stops its process: ``yield from serving(...)``."""
    yield owner
    owner.proc.terminate()
    owner.proc.wait(10)


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    yield from serving(start_target())


@pytest.fixture
def locustfile(tmp_path: Path) -> Path:
    """A locustfile a Locust user would write: 9 requests to / for each request to /err, no wait."""
    path = tmp_path / "locustfile.py"
    path.write_text(
        "from locust import FastHttpUser, constant, task\n\n\n"
        "class Shopper(FastHttpUser):\n"
        "    wait_time = constant(0)\n\n"
        "    @task(9)\n"
        "    def home(self):\n"
        '        self.client.get("/")\n\n'
        "    @task(1)\n"
        "    def broken(self):\n"
        '        self.client.get("/err")\n'
    )
    return path


@dataclass
class Run:
    windows: list[Window] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, name: str | None = None) -> int:
        return sum(w.count for w in self.windows if name is None or w.name == name)

    def errors(self, name: str | None = None) -> int:
        return sum(w.errors for w in self.windows if name is None or w.name == name)

    def slots(self) -> dict[float, list[Window]]:
        out: dict[float, list[Window]] = {}
        for w in self.windows:
            out.setdefault(w.start, []).append(w)
        return out


async def drive(load: LocustLoad, seconds: float) -> Run:
    """Consume ``load`` for ``seconds`` (after its first window), then stop it and collect the rest."""
    run = Run()
    first = asyncio.get_running_loop().create_future()

    async def consume() -> None:
        async for window in load.windows():
            run.windows.append(window)
            if not first.done():
                first.set_result(None)

    task = asyncio.create_task(consume())
    began = time.monotonic()
    done, _ = await asyncio.wait([task, first], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the load's error
    await asyncio.sleep(seconds)
    await load.stop()
    await asyncio.wait_for(task, 30)
    run.seconds = time.monotonic() - began
    return run


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]
