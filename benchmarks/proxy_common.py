"""Helpers of the proxy benchmarks: upstream servers and the proxy, each in its own process, all on 127.0.0.1.

Run as a script, it *is* one of the upstreams: ``python benchmarks/proxy_common.py echo|sink|source`` prints its
port on stdout and serves until killed (or until stdin closes).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"


# --------------------------------------------------------------------------------------------- upstreams


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class Sink(asyncio.Protocol):
    """Reads an 8-byte length, then that many bytes, then answers one byte (b"k")."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.want: int | None = None
        self.got = 0
        self.head = b""

    def data_received(self, data: bytes) -> None:
        if self.want is None:
            self.head += data[:8]
            data = data[8:]
            if len(self.head) < 8:
                return
            self.want = int.from_bytes(self.head, "big")
        self.got += len(data)
        if self.got >= self.want:
            self.transport.write(b"k")
            self.want, self.got, self.head = None, self.got - self.want, b""


class Source(asyncio.Protocol):
    """Sends bytes as fast as the peer takes them."""

    BLOCK = b"\xab" * (256 * 1024)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.paused = False
        self._fill()

    def _fill(self) -> None:
        while not self.paused and not self.transport.is_closing():
            self.transport.write(self.BLOCK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._fill()

    def data_received(self, data: bytes) -> None:
        pass


async def _serve(kind: str) -> None:
    protocol = {"echo": Echo, "sink": Sink, "source": Source}[kind]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, HOST, 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    done = asyncio.Event()
    # The parent holds our stdin: when it goes away, so do we (no orphan servers).
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True).start()
    await done.wait()


# ------------------------------------------------------------------------------------------------ spawning


class Child:
    """A child process that printed its port; killed on exit."""

    def __init__(self, argv: Sequence[str], port: int, proc: subprocess.Popen[str]) -> None:
        self.argv = list(argv)
        self.port = port
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def upstream(kind: str) -> Iterator[Child]:
    argv = [PYTHON, str(Path(__file__).resolve()), kind]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    child = Child(argv, port, proc)
    try:
        yield child
    finally:
        child.stop()


@contextmanager
def proxy_server(args: Sequence[str] = (), env: dict[str, str] | None = None) -> Iterator[Child]:
    """``chaoskit proxy serve [args]`` on an ephemeral port, in its own process, with the environment ``env``
    (default: this process's)."""
    argv = [PYTHON, "-m", "chaoskit", "proxy", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=os.environ if env is None else env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"the proxy server did not start: {line!r}")
    child = Child(argv, int(match.group(1)), proc)
    try:
        yield child
    finally:
        child.stop()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def load_average() -> str:
    """The 1-minute load average and the share of the last 10 s some task waited for a CPU (PSI), as text."""
    with open("/proc/loadavg") as fh:
        text = f"load {fh.read().split()[0]}"
    try:
        with open("/proc/pressure/cpu") as fh:
            text += f", cpu pressure {fh.readline().split()[1].split('=')[1]} %"
    except OSError:
        pass
    return text


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))
