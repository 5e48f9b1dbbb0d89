"""Window delivery latency and memory (issue 6): how long after a window closes it reaches the driver, and
whether the driver's and the children's memory stay flat over a long run.

Delivery lag is measured in the driver (wall clock at delivery minus the window's end; all processes share one
clock). ``--seconds 600`` with no ``--rate`` is the 10-minute full-rate soak. Usage::

    python benchmarks/load_delivery.py --seconds 60 --rate 2000      # paced, below saturation
    python benchmarks/load_delivery.py --seconds 600                 # full rate soak, memory every 10 s
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_common import WORK, Nginx, chaoskit_argv, exit_on_sigterm, locustfile, measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--memory-every", type=float, default=10.0)
    args = parser.parse_args()
    exit_on_sigterm()
    lf = locustfile()
    nginx = Nginx()
    try:
        argv = chaoskit_argv(
            lf, nginx.url, args.users, args.processes, args.seconds, rate=args.rate, memory_every=args.memory_every
        )
        began = time.time()
        t = measure("chaoskit", argv, nginx, users=args.users, processes=args.processes, warm=5, span=args.seconds - 8)
    finally:
        nginx.close()
    name = f"load_delivery_{int(args.seconds)}s_{'paced' if args.rate else 'full'}.json"
    (WORK / name).write_text(json.dumps({"began": began, **asdict(t)}, indent=1))
    e = t.extra
    rss = e["rss_mb"]
    print(
        f"rate {t.rps:,.0f} rps (target {args.rate or 'max'}), loadgen {t.loadgen_cpu:.0f}% CPU, "
        f"foreign {t.foreign_cpu:.0f}%, windows {e['windows']} ({e['limited_windows']} limited)"
    )
    print(
        f"delivery lag ms: p50 {e['lag_ms_p50']:.1f}  p99 {e['lag_ms_p99']:.1f}  max {e['lag_ms_max']:.1f}  "
        f"n={e['lag_n']}"
    )
    print(
        f"  of which: child sent it after p50 {e['child_emit_ms_p50']:.1f} / p99 {e['child_emit_ms_p99']:.1f} ms"
        f" (30 ms grace), pipe + driver p50 {e['pipe_ms_p50']:.1f} / p99 {e['pipe_ms_p99']:.1f} ms"
    )
    for who in ("driver", "children"):
        series = rss[who]
        if series:
            print(
                f"{who} RSS MB: first {series[0]:.1f}  peak {max(series):.1f}  last {series[-1]:.1f}  "
                f"(samples every {args.memory_every:g}s: {len(series)})"
            )


if __name__ == "__main__":
    main()
