"""End-to-end abort latency of the sequential verdicts (issue 7) on the demo shop with real Locust load.

Each run is a full ``chaoskit`` experiment: the shop (store + API) as target processes, chaoskit's embedded proxy in
front of the API, declarative Locust load through the proxy at ~200 requests/s (``POST /checkout`` with
``Connection: close``, so a toxic's per-connection ``toxicity`` is a per-request failure rate; Locust's FastHttp
client retries a GET on a reset connection by itself), a 99 % availability SLO, and one fault:

* ``failing``: ``network.reset_peer`` on 10 % of connections for a planned 30 s: 10 % of requests fail. The
  CUSUM bank must abort it; we measure onset (toxic added) -> deciding window, and onset -> toxic removed
  (revert verified), and compare with the statistical lower bound for the same case.
* ``harmless``: ``network.latency`` of 5 ms on every connection for 10 s: it must run to its end with no abort.

Reproduce: ``.venv/bin/python benchmarks/verdict_e2e.py --runs 20`` (about 20 minutes; ``--case failing``
or ``--case harmless`` for one half). Prints a markdown table and writes ``benchmarks/.work/verdict_e2e.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaoskit.api import run_experiment  # noqa: E402
from chaoskit.experiment.model import Experiment, experiment_model  # noqa: E402
from chaoskit.plugins import Plugins, plugin_manager  # noqa: E402
from chaoskit.runner.journal import read_events  # noqa: E402
from chaoskit.slo.power import information_bound  # noqa: E402


def free_ports(n: int) -> list[int]:
    """Ports nothing listens on now (other work on this host publishes containers on fixed ports)."""
    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


STORE, API, FRONT = free_ports(3)
RATE = 200.0
P0, FAILING = 0.01, 0.10


def spec(case: str) -> dict[str, Any]:
    fault: dict[str, Any]
    if case == "failing":
        fault = {"name": "resets", "type": "network.reset_peer", "target": {"proxy": "front"}, "toxicity": "10%",
                 "params": {"timeout": 0}, "duration": "30s"}  # fmt: skip
    else:
        fault = {"name": "latency", "type": "network.latency", "target": {"proxy": "front"},
                 "params": {"latency": "5ms"}, "duration": "10s"}  # fmt: skip
    return {
        "version": 1,
        "title": f"verdict e2e: {case}",
        "target": {"processes": [
            {"name": "store", "command": [sys.executable, "-m", "targets.shop.store", "--port", str(STORE)],
             "cwd": str(ROOT), "ready": {"tcp": f"127.0.0.1:{STORE}"}},
            {"name": "api", "command": [sys.executable, "-m", "targets.shop.api", "--port", str(API), "--store",
                                        f"127.0.0.1:{STORE}"],
             "cwd": str(ROOT), "ready": {"http": f"http://127.0.0.1:{API}/health?deep=0"}},
        ]},
        "proxies": [{"name": "front", "listen": f"127.0.0.1:{FRONT}", "upstream": f"127.0.0.1:{API}"}],
        "load": {"host": f"http://127.0.0.1:{FRONT}", "users": 20, "rate": f"{RATE:g}/s", "processes": 1,
                 # POST: geventhttpclient silently retries an idempotent GET on a reset connection
                 "http": [{"path": "/checkout", "method": "POST", "json": {"product": "mug"},
                           "headers": {"Connection": "close"}}]},
        "slos": [{"name": "availability", "sli": "success_rate", "objective": ">= 99%"}],
        "phases": {"warmup": "2s", "baseline": "6s", "recovery": "15s"},
        "faults": [fault],
        "guardrails": {"max_duration": "2m"},
    }  # fmt: skip


def build(plugins: Plugins, case: str) -> Experiment:
    model = experiment_model(
        [k.spec for k in plugins.registry.faults.values()], [k.spec for k in plugins.registry.probes.values()]
    )
    return model.model_validate(spec(case))


def one_run(case: str, state: Path) -> dict[str, Any]:
    plugins = plugin_manager(entry_points_enabled=False)
    result = run_experiment(build(plugins, case), plugins=plugins, state_dir=state, handle_signals=False)
    events = read_events(result.journal or "")
    injected = next((e["t"] for e in events if e["event"] == "fault_injected"), None)
    reverted = next((e["t"] for e in events if e["event"] == "fault_reverted"), None)
    abort = next((e for e in events if e["event"] == "abort"), None)
    observe = next((v for v in result.verdicts if v.phase == "observe"), None)
    baseline = next((v for v in result.verdicts if v.phase == "baseline"), None)
    row: dict[str, Any] = {
        "case": case, "outcome": result.outcome.value, "reason": result.reason,
        "aborted": abort is not None, "abort_kind": abort.get("kind") if abort else None,
        "baseline_rate": baseline.evidence.requests / baseline.evidence.seconds if baseline else None,
        "observe_requests": observe.evidence.requests if observe else None,
        "observe_errors": observe.evidence.errors if observe else None,
        "fault_seconds": (reverted - injected) if injected and reverted else None,
    }  # fmt: skip
    if abort is not None and injected is not None:
        window = abort.get("window", {})
        evidence = abort.get("evidence", {})
        row |= {
            "decided_after": window.get("end", abort["t"]) - injected,  # deciding window closed
            "abort_event_after": abort["t"] - injected,  # the runner acted on it
            "removed_after": (reverted - injected) if reverted else None,  # toxic gone, revert verified
            "requests_to_abort": evidence.get("requests"),
            "bad_to_abort": evidence.get("bad"),
        }
    return row


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summarise(rows: list[dict[str, Any]]) -> str:
    lines = []
    failing = [r for r in rows if r["case"] == "failing"]
    harmless = [r for r in rows if r["case"] == "harmless"]
    if failing:
        aborted = [r for r in failing if r["aborted"] and r.get("removed_after") is not None]
        rate = statistics.mean([r["baseline_rate"] for r in failing if r["baseline_rate"]] or [RATE])
        bound = information_bound(P0, FAILING, 0.01, 0.01)
        seen = max(sum(r["observe_requests"] or 0 for r in failing), 1)
        errors = sum(r["observe_errors"] or 0 for r in failing) / seen
        lines.append(f"10 % failing (reset_peer, toxicity 10 %), {len(failing)} runs: aborted in {len(aborted)}, "
                     f"error rate during the fault {errors:.1%}, load {rate:.0f} requests/s on the SLO")  # fmt: skip
        lines.append("")
        lines.append("| onset -> | median | p95 | max |")
        lines.append("|---|---|---|---|")
        for key, label in (("decided_after", "deciding window closed"), ("abort_event_after", "abort journaled"),
                           ("removed_after", "toxic removed (revert verified)")):  # fmt: skip
            values = [r[key] for r in aborted if r.get(key) is not None]
            if values:
                lines.append(f"| {label} | {statistics.median(values):.2f} s | {p95(values):.2f} s | "
                             f"{max(values):.2f} s |")  # fmt: skip
        actuation = [r["removed_after"] - r["decided_after"] for r in aborted if r.get("decided_after") is not None]
        if actuation:
            lines.append(f"| (deciding window closed -> toxic removed) | {statistics.median(actuation):.3f} s | "
                         f"{p95(actuation):.3f} s | {max(actuation):.3f} s |")  # fmt: skip
        requests = [r["requests_to_abort"] for r in aborted if r.get("requests_to_abort")]
        if requests:
            lines.append(f"| requests to abort | {statistics.median(requests):.0f} | {p95(requests):.0f} | "
                         f"{max(requests)} |")  # fmt: skip
            removed = [r["removed_after"] for r in aborted]
            lines.append("")
            lines.append(
                f"Statistical lower bound for the same case (10 % vs 1 %, alpha = beta = 1 %): {bound:.1f} requests "
                f"= {bound / rate:.2f} s at {rate:.0f}/s; the bank's expected 89 requests = {89 / rate:.2f} s. "
                f"Ratio p95(toxic removed) / lower bound = **{p95(removed) / (bound / rate):.1f}x**."
            )
    if harmless:
        clean = [r for r in harmless if not r["aborted"]]
        outcomes = sorted({r["outcome"] for r in harmless})
        lines.append("")
        lines.append(f"Harmless fault (5 ms latency, 10 s), {len(harmless)} runs: no abort in {len(clean)} of "
                     f"{len(harmless)}; outcomes {', '.join(outcomes)}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--summarise", type=Path, help="only print the summary of a saved JSON file")
    parser.add_argument("--case", choices=["failing", "harmless", "both"], default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / ".work" / "verdict_e2e.json")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(json.loads(args.summarise.read_text())))
        return
    os.chdir(ROOT)
    cases = ["failing", "harmless"] if args.case == "both" else [args.case]
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="verdict-e2e-") as tmp:
        for i in range(args.runs):
            for case in cases:
                row = one_run(case, Path(tmp) / f"{case}-{i}")
                rows.append(row)
                print(json.dumps(row), flush=True)
                args.out.write_text(json.dumps(rows, indent=1) + "\n")
    load = os.getloadavg()[0]
    print(f"\n{len(rows)} runs in {time.time() - began:.0f} s; 1-min load average at the end {load:.1f}\n")
    print(summarise(rows))


if __name__ == "__main__":
    main()
