"""Overhead of the embedded proxy with no toxics, side by side with a direct connection in one run.

* round-trip latency: 64-byte ping-pong with an echo server, direct and through the proxy, interleaved in blocks;
* bulk throughput: one connection streams bytes to a sink, direct and through the proxy, interleaved.

Upstreams, the proxy (``chaoskit proxy serve``) and this client are three processes on 127.0.0.1.

    python benchmarks/proxy_overhead.py [--round-trips 20000] [--megabytes 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy_common import HOST, percentile, proxy_server, upstream

from chaoskit.proxy.client import ToxiproxyClient

TIME_LIMIT = 30.0  # seconds per measurement, whatever the counts


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(port: int, count: int) -> list[float]:
    payload = b"p" * 64
    out = []
    deadline = time.monotonic() + TIME_LIMIT
    with _connect(port) as sock:
        for _ in range(50):  # warm up
            sock.sendall(payload)
            sock.recv(64)
        for _ in range(count):
            start = time.perf_counter_ns()
            sock.sendall(payload)
            got = 0
            while got < 64:
                got += len(sock.recv(64 - got))
            out.append((time.perf_counter_ns() - start) / 1000)
            if time.monotonic() > deadline:
                break
    return out


def throughput(port: int, megabytes: int) -> float:
    """MB/s (10^6 bytes per second) to stream ``megabytes`` MiB to the sink."""
    block = b"\x00" * (1 << 20)
    total = megabytes << 20
    with _connect(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        start = time.perf_counter()
        deadline = time.monotonic() + TIME_LIMIT
        sock.sendall(total.to_bytes(8, "big"))
        sent = 0
        while sent < total and time.monotonic() < deadline:
            sock.sendall(block)
            sent += len(block)
        if sent < total:  # the time limit struck: tell the sink the real size by padding to it is not possible
            raise RuntimeError(f"throughput run exceeded {TIME_LIMIT}s")
        assert sock.recv(1) == b"k"
        return total / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with upstream("echo") as echo, upstream("sink") as sink, proxy_server() as server:
        client = ToxiproxyClient(f"http://{HOST}:{server.port}")
        p_echo = int(client.create_proxy("echo", echo.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])
        p_sink = int(client.create_proxy("sink", sink.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])

        direct: list[float] = []
        proxied: list[float] = []
        block = max(1, args.round_trips // 10)
        for _ in range(10):
            direct += round_trips(echo.port, block)
            proxied += round_trips(p_echo, block)
        print(f"round trip, 64 B, {len(direct)} each (µs):")
        print(f"  {'':8} {'p50':>8} {'p90':>8} {'p99':>8}")
        for label, values in (("direct", direct), ("proxy", proxied)):
            print(f"  {label:8} " + " ".join(f"{percentile(values, q):8.1f}" for q in (50, 90, 99)))
        added = [percentile(proxied, q) - percentile(direct, q) for q in (50, 90, 99)]
        print(f"  {'added':8} " + " ".join(f"{a:8.1f}" for a in added))

        d_rates, p_rates = [], []
        for _ in range(args.repeats):
            d_rates.append(throughput(sink.port, args.megabytes))
            p_rates.append(throughput(p_sink, args.megabytes))
        print(f"bulk throughput, {args.megabytes} MiB x {args.repeats} (MB/s):")
        print(f"  direct  median {percentile(d_rates, 50):7.0f}  runs {' '.join(f'{r:.0f}' for r in d_rates)}")
        print(f"  proxy   median {percentile(p_rates, 50):7.0f}  runs {' '.join(f'{r:.0f}' for r in p_rates)}")
        print(f"  proxy/direct {percentile(p_rates, 50) / percentile(d_rates, 50):.2f}")


if __name__ == "__main__":
    main()
