"""Scale of the embedded proxy: many concurrent connections through one proxy for a while.

Each of ``--connections`` connections sends a 32-byte message once a second (staggered, so 1,000 connections make
1,000 requests/s) to an echo server through one proxy, and checks every echo. Before, during and after, the proxy
process's open file descriptors and resident memory are read from /proc. Passing means: no errors, the fd count
back to its start once the clients leave, and memory within 10 % of its start.

    python benchmarks/proxy_scale.py [--connections 1000] [--seconds 60] [--latency 0]
"""

from __future__ import annotations

import argparse
import gc
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy_common import HOST, fd_count, percentile, proxy_server, rss_kib, upstream

from chaoskit.proxy.client import ToxiproxyClient

MESSAGE = 32


def _settle(pid: int, target: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    count = fd_count(pid)
    while count > target and time.monotonic() < deadline:
        time.sleep(0.1)
        count = fd_count(pid)
    return count


def run(port: int, connections: int, seconds: float, proxy_pid: int) -> dict[str, float]:
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    errors = 0
    for _ in range(connections):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks.append(sock)
    state: dict[int, list[object]] = {}  # fd -> [expected bytes, received buffer, sent at]
    for sock in socks:
        state[sock.fileno()] = [b"", bytearray(), 0.0]
        sel.register(sock, selectors.EVENT_READ)
    rtts: list[float] = []
    start = time.perf_counter()
    end = start + seconds
    next_send = [start + k / connections for k in range(connections)]
    peak_fds, peak_rss = fd_count(proxy_pid), rss_kib(proxy_pid)
    sent = received = 0
    last_probe = start
    while time.perf_counter() < end + 5:  # 5 s to collect the last echoes, then stop whatever happens
        now = time.perf_counter()
        if now < end:
            for k, sock in enumerate(socks):
                if next_send[k] <= now:
                    entry = state[sock.fileno()]
                    if entry[0]:  # the previous echo has not come back within a second
                        errors += 1
                    payload = k.to_bytes(4, "big") + int(now * 1e6).to_bytes(8, "big") + b"x" * (MESSAGE - 12)
                    try:
                        sock.send(payload)
                    except OSError:
                        errors += 1
                    entry[0], entry[1], entry[2] = payload, bytearray(), now
                    next_send[k] += 1.0
                    sent += 1
        elif received >= sent:
            break
        for key, _ in sel.select(0.002):
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(4096)
            except OSError:
                errors += 1
                sel.unregister(sock)
                continue
            if not data:
                errors += 1  # the proxy closed a connection
                sel.unregister(sock)
                continue
            entry = state[sock.fileno()]
            buf: bytearray = entry[1]  # type: ignore[assignment]
            buf += data
            if len(buf) >= MESSAGE:
                if bytes(buf[:MESSAGE]) != entry[0]:
                    errors += 1
                rtts.append((time.perf_counter() - float(entry[2])) * 1000)  # type: ignore[arg-type]
                entry[0], entry[1] = b"", buf[MESSAGE:]
                received += 1
        if now - last_probe > 1.0:
            peak_fds, peak_rss = max(peak_fds, fd_count(proxy_pid)), max(peak_rss, rss_kib(proxy_pid))
            last_probe = now
    for sock in socks:
        sel.unregister(sock) if sock.fileno() in sel.get_map() else None
        sock.close()
    sel.close()
    return {
        "sent": sent,
        "received": received,
        "errors": errors + (sent - received),
        "p50_ms": percentile(rtts, 50),
        "p99_ms": percentile(rtts, 99),
        "peak_fds": peak_fds,
        "peak_rss_kib": peak_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--latency", type=int, default=0, help="Add a downstream latency toxic of this many ms.")
    parser.add_argument("--warmup", type=float, default=3, help="Seconds of a first, unmeasured wave.")
    parser.add_argument("--malloc", action="store_true", help="Run the proxy with PYTHONMALLOC=malloc.")
    args = parser.parse_args()

    env = {"PYTHONMALLOC": "malloc"} if args.malloc else None
    with upstream("echo") as echo, proxy_server(env) as server:
        client = ToxiproxyClient(f"http://{HOST}:{server.port}")
        port = int(client.create_proxy("echo", echo.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])
        if args.latency:
            client.add_toxic("echo", "latency", attributes={"latency": args.latency})
        run(port, 10, 1.0, server.pid)
        _settle(server.pid, 0, timeout=1.0)
        rss_cold = rss_kib(server.pid)
        # A short warm-up round at full size: Python's allocator keeps the arenas the first wave of connections
        # needed (a high-water mark, not a leak), so "start" is the steady state a second wave must come back to.
        run(port, args.connections, args.warmup, server.pid)
        _settle(server.pid, 0, timeout=2.0)
        time.sleep(2.5)
        fds0, rss0 = fd_count(server.pid), rss_kib(server.pid)
        result = run(port, args.connections, args.seconds, server.pid)
        gc.collect()
        fds1 = _settle(server.pid, fds0)
        time.sleep(2.5)  # the proxy releases memory 1 s after it goes idle
        rss1 = rss_kib(server.pid)
    toxic = f", latency toxic {args.latency} ms" if args.latency else ", no toxics"
    toxic += ", PYTHONMALLOC=malloc" if args.malloc else ""
    print(f"{args.connections} connections x {args.seconds:g} s through one proxy{toxic}:")
    print(f"  requests sent {result['sent']:.0f}, echoed {result['received']:.0f}, errors {result['errors']:.0f}")
    print(f"  round trip p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    print(f"  proxy fds: start {fds0}, peak {result['peak_fds']:.0f}, after close {fds1}")
    growth = rss1 / rss0 - 1
    print(
        f"  proxy RSS: cold {rss_cold / 1024:.1f} MiB, start (after warm-up) {rss0 / 1024:.1f} MiB, "
        f"peak {result['peak_rss_kib'] / 1024:.1f} MiB, after close {rss1 / 1024:.1f} MiB ({growth:+.1%} vs start, "
        f"{rss1 / rss_cold - 1:+.1%} vs cold)"
    )
    ok = result["errors"] == 0 and fds1 <= fds0 and growth <= 0.10
    print(f"  {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
