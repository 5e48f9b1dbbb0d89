"""Overhead of chaoskit's load driver against plain ``locust --headless`` (issue 6), side by side.

Same target (nginx on 127.0.0.1), same locustfile (FastHttpUser, one GET, no wait), same users and processes;
the two generators alternate, round after round, and are both measured by nginx's own request counter over the
same span after the same warm-up. The chaoskit side also reports its window delivery lag (window end to the
merged window reaching the driver). Usage::

    python benchmarks/load_overhead.py [--rounds 4] [--users 50] [--processes 1 2] [--span 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_common import (
    WORK,
    Trial,
    chaoskit_argv,
    exit_on_sigterm,
    locust_argv,
    locustfile,
    make_target,
    measure_clean,
    median,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warm", type=float, default=4.0)
    parser.add_argument("--span", type=float, default=8.0)
    parser.add_argument("--max-foreign", type=float, default=20.0, help="retry a trial when others use more CPU %%")
    parser.add_argument("--target", choices=["nginx", "responder"], default="nginx", help="see load_common.py")
    args = parser.parse_args()
    exit_on_sigterm()
    seconds = args.warm + args.span + 2
    lf = locustfile()
    nginx = make_target(args.target)
    trials: list[Trial] = []
    try:
        for r in range(args.rounds):
            for processes in args.processes:
                order = ["locust", "chaoskit"] if r % 2 == 0 else ["chaoskit", "locust"]
                for kind in order:
                    argv = (
                        locust_argv(lf, nginx.url, args.users, processes, seconds)
                        if kind == "locust"
                        else chaoskit_argv(lf, nginx.url, args.users, processes, seconds)
                    )
                    t = measure_clean(
                        kind,
                        argv,
                        nginx,
                        users=args.users,
                        processes=processes,
                        warm=args.warm,
                        span=args.span,
                        max_foreign=args.max_foreign,
                    )
                    trials.append(t)
                    lag = f" lag p99 {t.extra['lag_ms_p99']:.0f} ms" if "lag_ms_p99" in t.extra else ""
                    print(
                        f"round {r} p={processes} {kind:8s} {t.rps:8.0f} rps  loadgen {t.loadgen_cpu:5.0f}%  "
                        f"{nginx.name} {t.nginx_cpu:4.0f}%  softirq {t.softirq_cpu:3.0f}%  "
                        f"foreign {t.foreign_cpu:4.0f}%{lag}",
                        flush=True,
                    )
    finally:
        nginx.close()
    (WORK / "load_overhead.json").write_text(json.dumps([asdict(t) for t in trials], indent=1))
    print(f"\n(rps medians over trials with foreign CPU <= {args.max_foreign:g} %; CPU per request over all trials)")
    print(
        "| processes | users | locust rps | chaoskit rps | rps ratio (paired rounds) "
        "| locust CPU µs/req | chaoskit CPU µs/req | CPU ratio | chaoskit lag p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for processes in args.processes:
        lo = [t for t in trials if t.kind == "locust" and t.processes == processes]
        ck = [t for t in trials if t.kind == "chaoskit" and t.processes == processes]
        pairs = [
            c.rps / b.rps for c, b in zip(ck, lo, strict=False) if max(c.foreign_cpu, b.foreign_cpu) <= args.max_foreign
        ]
        lo_rps = median([t.rps for t in lo if t.foreign_cpu <= args.max_foreign])
        ck_rps = median([t.rps for t in ck if t.foreign_cpu <= args.max_foreign])
        lo_us = median([t.cpu_us_per_request for t in lo])
        ck_us = median([t.cpu_us_per_request for t in ck])
        print(
            f"| {processes} | {args.users} | {lo_rps:,.0f} | {ck_rps:,.0f} "
            f"| {median(pairs):.2f} ({', '.join(f'{x:.2f}' for x in pairs)}) | {lo_us:.0f} | {ck_us:.0f} "
            f"| {lo_us / ck_us:.2f} | {median([c.extra.get('lag_ms_p99', float('nan')) for c in ck]):.0f} |"
        )


if __name__ == "__main__":
    main()
