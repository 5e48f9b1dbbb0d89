"""Scale of the embedded proxy: many concurrent connections through one proxy for a while.

Each of ``--connections`` connections sends a 32-byte message once a second (staggered, so 1,000 connections make
1,000 requests/s) to an echo server through one proxy, and checks every echo. Before, during and after, the proxy
process's open file descriptors and resident memory are read from /proc. "Start" is the server ready, the proxy
listening, before any connection. Passing means: no errors, the fd count back to its start once the clients leave,
and memory within 10 % of its start, after the first wave and after each later (shorter) wave.

    python benchmarks/proxy_scale.py [--connections 1000] [--seconds 60] [--latency 0] [--waves 2]
                                      [--allocator malloc|pymalloc]
"""

from __future__ import annotations

import argparse
import gc
import os
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy_common import HOST, fd_count, load_average, percentile, proxy_server, rss_kib, upstream

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
    parser.add_argument("--waves", type=int, default=2, help="Waves after the first, of --wave-seconds each.")
    parser.add_argument("--wave-seconds", type=float, default=5)
    parser.add_argument(
        "--allocator",
        choices=("malloc", "pymalloc"),
        default="malloc",
        help="The server's allocator (chaoskit proxy serve --allocator; malloc is its default).",
    )
    args = parser.parse_args()

    print(f"({load_average()})")
    # the server picks its allocator itself; a PYTHONMALLOC inherited from this shell would override it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    with upstream("echo") as echo, proxy_server(["--allocator", args.allocator], env) as server:
        client = ToxiproxyClient(f"http://{HOST}:{server.port}")
        port = int(client.create_proxy("echo", echo.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])
        if args.latency:
            client.add_toxic("echo", "latency", attributes={"latency": args.latency})
        time.sleep(1.0)
        # "Start": the server is ready, the proxy listens, and no connection has been made yet.
        fds0, rss0 = fd_count(server.pid), rss_kib(server.pid)
        result = run(port, args.connections, args.seconds, server.pid)
        gc.collect()
        fds1 = _settle(server.pid, fds0)
        time.sleep(2.5)  # the proxy releases memory 1 s after it goes idle
        rss1 = rss_kib(server.pid)
        later: list[tuple[int, int, float]] = []
        for _ in range(args.waves):
            wave = run(port, args.connections, args.wave_seconds, server.pid)
            fds = _settle(server.pid, fds0)
            time.sleep(2.5)
            later.append((fds, rss_kib(server.pid), wave["errors"]))
    toxic = f", latency toxic {args.latency} ms" if args.latency else ", no toxics"
    toxic += f", allocator {args.allocator}"
    print(f"{args.connections} connections x {args.seconds:g} s through one proxy{toxic}:")
    print(f"  requests sent {result['sent']:.0f}, echoed {result['received']:.0f}, errors {result['errors']:.0f}")
    print(f"  round trip p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    print(f"  proxy fds: start {fds0}, peak {result['peak_fds']:.0f}, after close {fds1}")
    growth = rss1 / rss0 - 1
    print(
        f"  proxy RSS: start (listening, no connection yet) {rss0 / 1024:.1f} MiB, peak "
        f"{result['peak_rss_kib'] / 1024:.1f} MiB, after close {rss1 / 1024:.1f} MiB ({growth:+.1%} vs start)"
    )
    for k, (fds, rss, errors) in enumerate(later, 2):
        print(
            f"  wave {k} ({args.wave_seconds:g} s): errors {errors:.0f}, fds after {fds}, RSS after "
            f"{rss / 1024:.1f} MiB ({rss / rss0 - 1:+.1%} vs start)"
        )
    worst = max([rss1, *(rss for _, rss, _ in later)]) / rss0 - 1
    errors = result["errors"] + sum(e for _, _, e in later)
    ok = errors == 0 and max([fds1, *(f for f, _, _ in later)]) <= fds0 and worst <= 0.10
    print(f"  {'PASS' if ok else 'FAIL'} ({load_average()})")


if __name__ == "__main__":
    main()
