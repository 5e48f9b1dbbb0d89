"""Distributed speed-up (issue 6): chaoskit's Locust master with one local worker, then with two.

Each worker is a ``chaoskit.load.worker`` process (``locust --worker`` with chaoskit's windows); the master runs
in a load child, and the windows still arrive every 250 ms through custom messages. The rate is nginx's count
over the same span after the same warm-up. Plain Locust's ``--processes 2`` against one process is measured in
the same rounds, as this machine's own ceiling. Usage::

    python benchmarks/load_distributed.py [--rounds 3] [--users 50]
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
    Nginx,
    Trial,
    chaoskit_argv,
    exit_on_sigterm,
    locust_argv,
    locustfile,
    measure_clean,
    median,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warm", type=float, default=6.0)
    parser.add_argument("--span", type=float, default=8.0)
    parser.add_argument("--max-foreign", type=float, default=20.0)
    args = parser.parse_args()
    exit_on_sigterm()
    seconds = args.warm + args.span + 2
    lf = locustfile()
    nginx = Nginx()
    trials: list[Trial] = []
    configs = [
        ("chaoskit-workers", 1),
        ("chaoskit-workers", 2),
        ("locust", 1),
        ("locust", 2),
    ]
    try:
        for r in range(args.rounds):
            for kind, n in configs if r % 2 == 0 else reversed(configs):
                if kind == "locust":
                    argv = locust_argv(lf, nginx.url, args.users, n, seconds)
                else:
                    argv = chaoskit_argv(lf, nginx.url, args.users, 1, seconds, workers=n, master_port=15600 + r)
                t = measure_clean(
                    kind, argv, nginx, users=args.users, processes=n, warm=args.warm, span=args.span,
                    max_foreign=args.max_foreign,
                )  # fmt: skip
                trials.append(t)
                extra = ""
                if t.extra.get("windows"):
                    extra = f" windows {t.extra['windows']} lag p99 {t.extra['lag_ms_p99']:.0f} ms"
                print(
                    f"round {r} {kind:16s} n={n} {t.rps:8.0f} rps loadgen {t.loadgen_cpu:4.0f}% "
                    f"nginx {t.nginx_cpu:3.0f}% foreign {t.foreign_cpu:3.0f}%{extra}",
                    flush=True,
                )
    finally:
        nginx.close()
    (WORK / "load_distributed.json").write_text(json.dumps([asdict(t) for t in trials], indent=1))
    clean = [t for t in trials if t.foreign_cpu <= args.max_foreign]
    print(f"\n(medians over the {len(clean)} of {len(trials)} trials with foreign CPU <= {args.max_foreign:g} %)")
    print("| generator | 1 worker/process rps | 2 workers/processes rps | speed-up | lag p99 ms (2 workers) |")
    print("|---|---|---|---|---|")
    for kind in ("chaoskit-workers", "locust"):
        one = median([t.rps for t in clean if t.kind == kind and t.processes == 1])
        two_t = [t for t in clean if t.kind == kind and t.processes == 2]
        two = median([t.rps for t in two_t])
        lag = median([t.extra["lag_ms_p99"] for t in two_t if "lag_ms_p99" in t.extra])
        print(f"| {kind} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x | {lag:.0f} |")


if __name__ == "__main__":
    main()
