"""Fidelity of the latency and bandwidth toxics of the embedded proxy.

* latency: 16-byte requests at a fixed rate (1,000/s by default) spread over pipelined connections to an echo
  server, first direct, then through the proxy with a downstream latency toxic of L ms; the added round-trip time
  at p50 and p99 is compared with L (target: L +- 1 ms at p50, L +- 3 ms at p99);
* bandwidth: a source upstream sends as fast as it can through a downstream bandwidth toxic of R KB/s; the client
  measures the rate it receives over 5 s (target: R +- 2 %).

    python benchmarks/proxy_fidelity.py [--rate 1000] [--seconds 5] [--latencies 20,100,500]
                                        [--bandwidths 100,1000,10000]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy_common import HOST, percentile, proxy_server, upstream

from chaoskit.proxy.client import ToxiproxyClient

RECORD = 16


def open_loop(port: int, rate: float, seconds: float, connections: int = 50) -> tuple[list[float], int]:
    """Round-trip times (ms) of requests sent at ``rate``/s for ``seconds``; and how many were lost."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(connections):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, bytearray())
        socks.append(sock)
    total = int(rate * seconds)
    sent_at: list[float] = [0.0] * total
    rtts: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds + 30  # bounded whatever happens
    i = 0
    received = 0
    try:
        while received < total and time.perf_counter() < deadline:
            now = time.perf_counter()
            while i < total and start + i / rate <= now:
                sock = socks[i % connections]
                sent_at[i] = time.perf_counter()
                sock.send(i.to_bytes(8, "big") + b"\x00" * (RECORD - 8))
                i += 1
                now = time.perf_counter()
            timeout = max(0.0, start + i / rate - time.perf_counter()) if i < total else 0.05
            for key, _ in sel.select(timeout):
                buf: bytearray = key.data
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                stamp = time.perf_counter()
                buf += data
                while len(buf) >= RECORD:
                    seq = int.from_bytes(buf[:8], "big")
                    del buf[:RECORD]
                    rtts.append((stamp - sent_at[seq]) * 1000)
                    received += 1
    finally:
        for sock in socks:
            sel.unregister(sock)
            sock.close()
        sel.close()
    return rtts, total - received


def received_rate(port: int, seconds: float) -> float:
    """Bytes per second received from ``port`` over ``seconds`` after the first byte."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.settimeout(30)
        first = sock.recv(65536)
        t0 = time.perf_counter()
        got = 0
        last = t0
        while True:
            data = sock.recv(1 << 20)
            now = time.perf_counter()
            if not data or now - t0 > seconds:
                break
            got += len(data)
            last = now
        del first
    return got / (last - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--latencies", default="20,100,500")
    parser.add_argument("--bandwidths", default="100,1000,10000")
    args = parser.parse_args()
    latencies = [int(x) for x in args.latencies.split(",") if x]
    bandwidths = [int(x) for x in args.bandwidths.split(",") if x]

    with upstream("echo") as echo, upstream("source") as source, proxy_server() as server:
        client = ToxiproxyClient(f"http://{HOST}:{server.port}")
        p_echo = int(client.create_proxy("echo", echo.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])
        p_source = int(client.create_proxy("source", source.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])

        if latencies:
            print(f"latency toxic, {args.rate:.0f} requests/s, {args.seconds:g} s direct and {args.seconds:g} s")
            print("through the proxy in alternating 1 s blocks per L (ms; added = through - direct at a percentile):")
            for latency in latencies:
                client.add_toxic("echo", "latency", name="lat", attributes={"latency": latency})
                base: list[float] = []
                rtts: list[float] = []
                lost = 0
                for _ in range(max(1, round(args.seconds))):
                    part, n = open_loop(echo.port, args.rate, 1.0)
                    base += part
                    part, m = open_loop(p_echo, args.rate, 1.0)
                    rtts += part
                    lost += n + m
                client.remove_toxic("echo", "lat")
                b50, b99 = percentile(base, 50), percentile(base, 99)
                t50, t99 = percentile(rtts, 50), percentile(rtts, 99)
                a50, a99 = t50 - b50, t99 - b99
                ok = abs(a50 - latency) <= 1 and abs(a99 - latency) <= 3
                print(
                    f"  L={latency:<4} direct p50 {b50:7.3f} p99 {b99:7.3f} | through p50 {t50:8.3f} p99 {t99:8.3f} | "
                    f"added p50 {a50 - latency:+7.3f} p99 {a99 - latency:+7.3f} vs L | lost {lost}  "
                    f"{'OK' if ok else 'MISS'}"
                )

        if bandwidths:
            print(f"bandwidth toxic, received over {args.seconds:g} s:")
            for rate in bandwidths:
                client.add_toxic("source", "bandwidth", name="bw", attributes={"rate": rate})
                measured = received_rate(p_source, args.seconds) / 1000
                client.remove_toxic("source", "bw")
                err = measured / rate - 1
                verdict = "OK" if abs(err) <= 0.02 else "MISS"
                print(f"  R={rate:<6} KB/s  measured {measured:10.1f} KB/s  ({err:+.2%})  {verdict}")


if __name__ == "__main__":
    main()
