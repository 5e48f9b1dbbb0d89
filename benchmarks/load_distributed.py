"""Distributed speed-up (issue 6): chaoskit's Locust master with one local worker, then with two.

Each worker is a ``chaoskit.load.worker`` process (``locust --worker`` with chaoskit's windows); the master runs
in a load child, and the windows still arrive every 250 ms through custom messages. The rate is the target's own
count over the same span after the same warm-up. Plain Locust's ``--processes 2`` against one process is
measured in the same rounds, against the same target, as this machine's own ceiling: as master + 1 forked worker
(``--processes 1``) against master + 2 (``--processes 2``), the same shape as chaoskit's (a standalone ``locust``
process spends ~7 % more per request than a forked worker, which flattered Locust's speed-up).

The target shares the 2 cores with the workers, so its CPU per request bounds the speed-up: with one worker the
worker has a core to itself and the target the other; with two, the workers get what the target, the kernel's
loopback TCP work (softirq), the master and everything else leave. The default target is therefore the lightest
one, ``load_responder.c`` (``--target nginx`` for nginx), and the summary shows the CPU each role got, so the
speed-up can be checked against the CPU the workers had. Usage::

    python benchmarks/load_distributed.py [--rounds 3] [--users 50] [--target responder|nginx]
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warm", type=float, default=6.0)
    parser.add_argument("--span", type=float, default=8.0)
    parser.add_argument("--max-foreign", type=float, default=20.0)
    parser.add_argument("--target", choices=["responder", "nginx"], default="responder")
    parser.add_argument("--out", default="load_distributed.json", help="file name under benchmarks/.work")
    args = parser.parse_args()
    exit_on_sigterm()
    seconds = args.warm + args.span + 2
    lf = locustfile()
    nginx = make_target(args.target)
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
                    argv = locust_argv(lf, nginx.url, args.users, n, seconds, forked=True)
                else:
                    argv = chaoskit_argv(lf, nginx.url, args.users, 1, seconds, workers=n, master_port=15600 + r)
                t = measure_clean(
                    kind, argv, nginx, users=args.users, processes=n, warm=args.warm, span=args.span,
                    max_foreign=args.max_foreign,
                )  # fmt: skip
                t.extra["round"] = r
                trials.append(t)
                extra = ""
                if t.extra.get("windows"):
                    extra = f" windows {t.extra['windows']} lag p99 {t.extra['lag_ms_p99']:.0f} ms"
                roles = " ".join(f"{k} {'+'.join(f'{v:.0f}' for v in vs)}%" for k, vs in sorted(t.roles.items()))
                print(
                    f"round {r} {kind:16s} n={n} {t.rps:8.0f} rps loadgen {t.loadgen_cpu:4.0f}% ({roles}) "
                    f"{nginx.name} {t.nginx_cpu:3.0f}% softirq {t.softirq_cpu:3.0f}% foreign {t.foreign_cpu:3.0f}%"
                    f"{extra}",
                    flush=True,
                )
    finally:
        nginx.close()
    (WORK / args.out).write_text(json.dumps([asdict(t) for t in trials], indent=1))
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
    print(f"\nWhere the 2 cores went (medians, % of one core; target: {nginx.name}). 'left' is what the target, the")
    print("kernel's softirq, the master, the driver and other jobs left of 200 %: the most the workers could have had.")
    print("| generator | n | workers (each) | left | workers µs/req | master | driver | target | softirq | foreign |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("chaoskit-workers", "locust"):
        for n in (1, 2):
            ts = [t for t in clean if t.kind == kind and t.processes == n]
            if not ts:
                continue
            each = [sorted(worker_cpus(t), reverse=True) for t in ts]
            cols = [median([e[i] for e in each if len(e) > i]) for i in range(n)]
            us = median([worker_us_per_request(t) for t in ts if t.rps])
            driver = median([sum(t.roles.get("driver", [])) for t in ts])
            left = median([cpu_left(t) for t in ts])
            print(
                f"| {kind} | {n} | {sum(cols):.0f} ({' + '.join(f'{c:.0f}' for c in cols)}) | {left:.0f} | {us:.1f} "
                f"| {median([master_cpu(t) for t in ts]):.1f} | {driver:.1f} "
                f"| {median([t.nginx_cpu for t in ts]):.0f} | {median([t.softirq_cpu for t in ts]):.0f} "
                f"| {median([t.foreign_cpu for t in ts]):.0f} |"
            )

    print("\nSpeed-up the CPU allowed: (CPU left with 2) / (CPU of the 1 worker) x (µs/request with 1) / (with 2),")
    print("per round, against the speed-up measured in that round:")
    for kind in ("chaoskit-workers", "locust"):
        rows = []
        for r in sorted({t.extra.get("round", -1) for t in clean}):
            one_t = [t for t in clean if t.kind == kind and t.processes == 1 and t.extra.get("round") == r]
            two_t = [t for t in clean if t.kind == kind and t.processes == 2 and t.extra.get("round") == r]
            if one_t and two_t and one_t[0].rps and two_t[0].rps:
                o, w = one_t[0], two_t[0]
                allowed = cpu_left(w) / max(sum(worker_cpus(o)), 1e-9) * worker_us_per_request(o)
                allowed /= worker_us_per_request(w)
                rows.append(f"round {r}: measured {w.rps / o.rps:.2f}x, allowed {allowed:.2f}x")
        print(f"  {kind}: " + "; ".join(rows))


def cpu_left(t: Trial) -> float:
    """What the workers could have had of the 2 cores: all but the target, softirq, master, driver, others."""
    driver = sum(t.roles.get("driver", []))
    return 200.0 - t.nginx_cpu - t.softirq_cpu - t.foreign_cpu - master_cpu(t) - driver


def worker_cpus(t: Trial) -> list[float]:
    """CPU of each process that makes requests: chaoskit's workers, or Locust's worker processes (with one
    process, Locust's only process)."""
    if t.kind == "locust":
        procs = t.roles.get("locust", [])
        return sorted(procs)[1:] if len(procs) > 1 else procs  # --processes: the smallest one is the master
    return t.roles.get("worker", [])


def worker_us_per_request(t: Trial) -> float:
    """The request-making processes' CPU per request, in µs (``t.rps`` > 0)."""
    return sum(worker_cpus(t)) / 100 * 1e6 / t.rps


def master_cpu(t: Trial) -> float:
    if t.kind == "locust":
        procs = sorted(t.roles.get("locust", []))
        return procs[0] if len(procs) > 1 else 0.0
    return sum(t.roles.get("child", []))


if __name__ == "__main__":
    main()
