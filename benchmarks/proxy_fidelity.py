"""Fidelity of the latency and bandwidth toxics of the embedded proxy.

* latency: 16-byte requests at a fixed rate (1,000/s by default) over 50 persistent connections to an echo server,
  in short blocks that rotate between three targets: the echo server directly, a proxy with no toxic ("plain"),
  and a proxy with a downstream latency toxic of L ms ("toxic"), both proxies on one ``chaoskit proxy serve``.
  "Added" is toxic minus plain at the same percentile, compared with L (target: L +- 1 ms at p50, L +- 3 ms at
  p99). Beside it: the proxy's own release lateness (its ``/metrics`` histogram: when it wrote each delayed chunk
  against the chunk's due time), and the client's own lag (how late it sent against its schedule), which tell a
  late proxy from a late client or host;
* bandwidth: a source upstream sends as fast as it can through a downstream bandwidth toxic of R KB/s; the client
  measures the rate it receives over 5 s (target: R +- 2 %).

    python benchmarks/proxy_fidelity.py [--rate 1000] [--rounds 10] [--block 0.5] [--latencies 20,100,500]
                                        [--seconds 5] [--bandwidths 100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import selectors
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy_common import HOST, load_average, percentile, proxy_server, upstream

from chaoskit.proxy.client import ToxiproxyClient
from chaoskit.proxy.lateness import BOUNDS, METRIC

RECORD = 16
CONNECTIONS = 50


@dataclass
class Target:
    """One of the three targets of the latency benchmark, with its persistent connections and samples."""

    name: str
    socks: list[socket.socket]
    rtts: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    block_p99: list[float] = field(default_factory=list)
    lost: int = 0

    def reset(self) -> None:
        self.rtts, self.lags, self.block_p99, self.lost = [], [], [], 0


def connect(port: int, connections: int = CONNECTIONS) -> list[socket.socket]:
    socks = []
    for _ in range(connections):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def open_loop(target: Target, block: int, rate: float, seconds: float, drain: float) -> None:
    """Send ``rate``/s for ``seconds`` round-robin over the target's connections; wait at most ``drain`` s more.

    Records carry the block number, so a reply left over from a block that timed out is never misread. The RTT
    runs from the actual send; the client's lag (actual send minus scheduled send) is kept apart.
    """
    socks = target.socks
    sel = selectors.DefaultSelector()
    for sock in socks:
        sel.register(sock, selectors.EVENT_READ, bytearray())  # the connection's unparsed bytes
    total = int(rate * seconds)
    sent_at = [0.0] * total
    rtts: list[float] = []
    tag = block.to_bytes(4, "big")
    start = time.perf_counter()
    deadline = start + seconds + drain  # bounded whatever happens
    i = received = 0
    try:
        while received < total and time.perf_counter() < deadline:
            now = time.perf_counter()
            while i < total and start + i / rate <= now:
                sent_at[i] = now = time.perf_counter()
                target.lags.append((now - start - i / rate) * 1000)
                socks[i % len(socks)].send(i.to_bytes(8, "big") + tag + bytes(RECORD - 12))
                i += 1
            timeout = max(0.0, start + i / rate - time.perf_counter()) if i < total else 0.05
            for key, _ in sel.select(timeout):
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                stamp = time.perf_counter()
                buf: bytearray = key.data
                buf += data
                while len(buf) >= RECORD:
                    seq, mine = int.from_bytes(buf[:8], "big"), buf[8:12] == tag
                    del buf[:RECORD]
                    if mine:
                        rtts.append((stamp - sent_at[seq]) * 1000)
                        received += 1
    finally:
        sel.close()
    target.rtts += rtts
    target.block_p99.append(percentile(rtts, 99))
    target.lost += total - received


def lateness_counts(api: str, proxy: str) -> list[int]:
    """The proxy's cumulative release-lateness bucket counts for ``proxy``'s downstream."""
    with urllib.request.urlopen(f"{api}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    prefix = f'{METRIC}_bucket{{direction="downstream",proxy="{proxy}",le='
    return [int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]


def lateness_quantile(before: list[int], after: list[int], q: float) -> str:
    """The bucket bound (ms) below which a share ``q`` of the releases between two scrapes fell."""
    counts = [b - a for a, b in zip(before, after, strict=True)]
    if not counts or not counts[-1]:
        return "-"
    want = q * counts[-1]
    for bound, cumulative in zip((*BOUNDS, float("inf")), counts, strict=True):
        if cumulative >= want:
            return f"<={bound * 1000:g}"
    return "-"


def latency(client: ToxiproxyClient, api: str, ports: dict[str, int], args: argparse.Namespace) -> None:
    targets = [Target(name, connect(port)) for name, port in ports.items()]
    print(
        f"latency toxic: {args.rate:.0f} requests/s over {CONNECTIONS} connections per target, {args.rounds} rounds of "
        f"{args.block:g} s blocks rotating direct / plain proxy / toxic proxy ({load_average()})"
    )
    print("  ms; added = toxic - plain at a percentile; proxy lateness = release time - due time (bucket bound)")
    block = 0
    gc.disable()  # the client's own collector pauses are not the proxy's tail
    try:
        for lat in args.latencies:
            client.add_toxic("toxic", "latency", name="lat", attributes={"latency": lat})
            for target in targets:
                target.reset()
            before = lateness_counts(api, "toxic")
            for r in range(args.rounds):
                for k in range(len(targets)):
                    target = targets[(r + k) % len(targets)]
                    block += 1
                    open_loop(target, block, args.rate, args.block, drain=lat / 1000 + 5)
            after = lateness_counts(api, "toxic")
            client.remove_toxic("toxic", "lat")
            p = {t.name: (percentile(t.rtts, 50), percentile(t.rtts, 99)) for t in targets}
            a50, a99 = p["toxic"][0] - p["plain"][0] - lat, p["toxic"][1] - p["plain"][1] - lat
            ok = abs(a50) <= 1 and abs(a99) <= 3 and not any(t.lost for t in targets)
            print(
                f"  L={lat:<4} direct {p['direct'][0]:.3f} / {p['direct'][1]:.3f}  plain {p['plain'][0]:.3f} / "
                f"{p['plain'][1]:.3f}  toxic {p['toxic'][0]:.3f} / {p['toxic'][1]:.3f} (p50 / p99)"
            )
            print(
                f"         added - L: p50 {a50:+.3f}  p99 {a99:+.3f}   proxy lateness p50 "
                f"{lateness_quantile(before, after, 0.5)} p99 {lateness_quantile(before, after, 0.99)} "
                f"max {lateness_quantile(before, after, 1.0)}   {'OK' if ok else 'MISS'}"
            )
            print(
                "         client lag p99 / max: "
                + "  ".join(f"{t.name} {percentile(t.lags, 99):.2f} / {max(t.lags):.1f}" for t in targets)
                + "   block p99 median: "
                + "  ".join(f"{t.name} {percentile(t.block_p99, 50):.2f}" for t in targets)
                + f"   lost {sum(t.lost for t in targets)}   ({load_average()})"
            )
    finally:
        gc.enable()
        for target in targets:
            for sock in target.socks:
                sock.close()


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
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=float, default=0.5, help="Seconds of each latency block.")
    parser.add_argument("--seconds", type=float, default=5, help="Seconds of each bandwidth measurement.")
    parser.add_argument("--latencies", default="20,100,500")
    parser.add_argument("--bandwidths", default="100,1000,10000")
    args = parser.parse_args()
    args.latencies = [int(x) for x in args.latencies.split(",") if x]
    bandwidths = [int(x) for x in args.bandwidths.split(",") if x]

    with upstream("echo") as echo, upstream("source") as source, proxy_server(["--metrics"]) as server:
        api = f"http://{HOST}:{server.port}"
        client = ToxiproxyClient(api)
        ports = {"direct": echo.port}
        for name in ("plain", "toxic"):
            ports[name] = int(client.create_proxy(name, echo.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])
        p_source = int(client.create_proxy("source", source.addr, f"{HOST}:0").listen.rsplit(":", 1)[1])

        if args.latencies:
            latency(client, api, ports, args)

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
