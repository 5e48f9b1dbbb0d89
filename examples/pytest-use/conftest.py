"""Starts the demo shop for the tests beside this file (free ports, torn down after)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shop:
    api: str
    store: subprocess.Popen[bytes]
    api_proc: subprocess.Popen[bytes]

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.api + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


@pytest.fixture
def shop() -> Iterator[Shop]:
    store_port, api_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    store = subprocess.Popen([sys.executable, "-m", "targets.shop.store", "--port", str(store_port)], env=env)
    api = subprocess.Popen(
        [sys.executable, "-m", "targets.shop.api", "--port", str(api_port), "--store", f"127.0.0.1:{store_port}",
         "--stale-on-error"],
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{api_port}/health")
        yield Shop(f"http://127.0.0.1:{api_port}", store, api)
    finally:
        for proc in (api, store):
            proc.terminate()
            proc.wait(timeout=10)
