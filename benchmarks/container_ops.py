"""Container faults: chaoskit against the plain ``docker`` CLI doing the same operation, side by side.

For kill, pause and partition, two times per round:

* inject: from the decision to inject until the container is *observably* broken: its main process is dead
  (kill), the engine reports it paused (pause), the DROP rules are in its network namespace (partition);
* revert: from the decision to revert until it is observably back: running, unpaused, no rules.

chaoskit's path is what a run does: resolve the selector (one container, by name), write the ledger entry (fsync),
``inject()``; ``revert()`` then ``verify_reverted()`` (running, unpaused, no chaoskit rules, same image). The CLI's
path is ``docker kill`` / ``docker pause`` / ``nsenter ... iptables-restore`` (the CLI has no partition: this is the
shortest command line that makes one), and ``docker start`` / ``docker unpause`` / ``iptables-restore`` with ``-D``.
Both sides are timed by the same observer, a thread that polls from the decision on (every 1 ms; an
``iptables-save`` in the namespace for partitions), so a command is not charged for returning late; between
inject and revert the engine is left to finish (a run has the fault's duration there). Rounds alternate chaoskit
and CLI so machine noise hits both alike. The benchmark's container (the shop store image, no published ports, no
restart policy) is labelled chaoskit.bench=<id> and removed at the end.

    python benchmarks/container_ops.py [--rounds 15] [--cli /usr/bin/docker] [--json]

Needs root and a local Docker engine with the images of scripts/build-images.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaoskit.faults import _container, _docker
from chaoskit.plugins import plugin_manager
from chaoskit.runner.context import RunContext
from chaoskit.runner.ledger import Ledger

IMAGE = "chaoskit/shop:local"
OBSERVE_LIMIT = 30.0
POLL = 0.001
PARTITION = ["-I INPUT 1 ! -i lo -m comment --comment bench -j DROP",
             "-I OUTPUT 1 ! -o lo -m comment --comment bench -j DROP"]


def wait(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + OBSERVE_LIMIT
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("not observed within 30s")
        time.sleep(POLL)


class Bench:
    def __init__(self, rounds: int, cli: str | None) -> None:
        self.rounds = rounds
        self.docker = _docker.client()
        self.cli = cli or shutil.which("docker") or "docker"
        self.tag = uuid.uuid4().hex[:8]
        self.name = f"chaoskit-bench-{self.tag}"
        self.state = Path(tempfile.mkdtemp(prefix="chaoskit-bench-"))
        self.registry = plugin_manager(entry_points_enabled=False).registry
        self.container: Any = None
        self.loop = asyncio.new_event_loop()

    # --------------------------------------------------------------------------------------------- observer

    def inspect(self) -> dict[str, Any]:
        state: dict[str, Any] = self.docker.api.inspect_container(self.container.id)["State"]
        return state

    def pid(self) -> int:
        return int(self.inspect()["Pid"])

    def observed(self, op: str, broken: bool, pid: int) -> Callable[[], bool]:
        if op == "kill":
            if broken:
                return lambda: not _container._pid_alive(pid)
            return lambda: bool(self.inspect()["Running"])
        if op == "pause":
            return lambda: bool(self.inspect()["Paused"]) == broken
        return lambda: _drop_rules(pid) == broken

    def timed(self, action: Callable[[], None], predicate: Callable[[], bool]) -> float:
        """Seconds from the call of ``action`` until ``predicate`` holds, seen by an observer thread that polls
        from the start (so a command that returns late is not charged for its own return)."""
        seen: list[float] = []
        stop = threading.Event()

        def observe() -> None:
            deadline = time.monotonic() + OBSERVE_LIMIT
            while not stop.is_set() and time.monotonic() < deadline:
                if predicate():
                    seen.append(time.perf_counter())
                    return
                time.sleep(POLL)

        observer = threading.Thread(target=observe)
        began = time.perf_counter()
        observer.start()
        try:
            action()
            observer.join(OBSERVE_LIMIT)
        finally:
            stop.set()
            observer.join()
        if not seen:
            raise RuntimeError("not observed within 30s")
        return seen[0] - began

    def settle(self, op: str) -> None:
        """Untimed, between inject and revert (a run has the fault's duration there): the engine is done
        with the operation."""
        if op == "kill":
            wait(lambda: not self.inspect()["Running"])
        time.sleep(0.2)

    # ---------------------------------------------------------------------------------------------- chaoskit

    def chaoskit(self, op: str, run: int) -> tuple[float, float]:
        kind = {"kill": "container.kill", "pause": "container.pause", "partition": "container.partition"}[op]
        spec = self.registry.faults[kind].spec.model_validate(
            {"name": "bench", "type": kind, "duration": 1, "target": {"name": self.name},
             **({"params": {"restart": "chaoskit"}} if op == "kill" else {})})
        ctx = RunContext(run_id=f"bench-{self.tag}-{run}", experiment=None,  # type: ignore[arg-type]
                         base_dir=Path.cwd(), state_dir=self.state, registry=self.registry,
                         processes=None, services={"docker": self.docker})  # type: ignore[arg-type]
        ledger = Ledger(self.state)
        pid = self.pid()
        faults: list[Any] = []

        def inject() -> None:  # what the runner does from the decision on
            [fault] = self.registry.faults[kind].create(spec, ctx)
            faults.append((fault, ledger.open(run_id=ctx.run_id, fault="bench", kind=kind, target=fault.target,
                                              undo=fault.undo())))
            self.loop.run_until_complete(fault.inject())

        def revert() -> None:
            fault, entry = faults[0]
            self.loop.run_until_complete(fault.revert())
            self.loop.run_until_complete(fault.verify_reverted())
            ledger.close(entry.id)

        injected = self.timed(inject, self.observed(op, True, pid))
        self.settle(op)
        reverted = self.timed(revert, self.observed(op, False, pid))
        return injected, reverted

    # --------------------------------------------------------------------------------------------------- CLI

    def run_cli(self, *argv: str, stdin: str | None = None) -> str:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout

    def plain_cli(self, op: str) -> tuple[float, float]:
        pid = self.pid()

        def inject() -> None:
            if op == "kill":
                self.run_cli(self.cli, "kill", self.name)
            elif op == "pause":
                self.run_cli(self.cli, "pause", self.name)
            else:
                target = self.run_cli(self.cli, "inspect", "-f", "{{.State.Pid}}", self.name).strip()
                self.run_cli("nsenter", "-t", target, "-n", "iptables-restore", "--noflush",
                             stdin="*filter\n" + "\n".join(PARTITION) + "\nCOMMIT\n")

        def revert() -> None:
            if op == "kill":
                self.run_cli(self.cli, "start", self.name)
            elif op == "pause":
                self.run_cli(self.cli, "unpause", self.name)
            else:
                target = self.run_cli(self.cli, "inspect", "-f", "{{.State.Pid}}", self.name).strip()
                deletes = [line.replace("-I INPUT 1", "-D INPUT").replace("-I OUTPUT 1", "-D OUTPUT")
                           for line in PARTITION]
                self.run_cli("nsenter", "-t", target, "-n", "iptables-restore", "--noflush",
                             stdin="*filter\n" + "\n".join(deletes) + "\nCOMMIT\n")

        injected = self.timed(inject, self.observed(op, True, pid))
        self.settle(op)
        reverted = self.timed(revert, self.observed(op, False, pid))
        return injected, reverted

    # ------------------------------------------------------------------------------------------------- rounds

    def measure(self) -> dict[str, dict[str, list[float]]]:
        self.container = self.docker.containers.run(
            IMAGE, ["python3", "-m", "targets.shop.store", "--host", "0.0.0.0", "--port", "7001"], name=self.name,
            detach=True, init=True, labels={"chaoskit.bench": self.tag}, restart_policy={"Name": "no"})
        wait(lambda: bool(self.inspect()["Running"]))
        out: dict[str, dict[str, list[float]]] = {}
        for op in ("kill", "pause", "partition"):
            times: dict[str, list[float]] = {k: [] for k in ("chaoskit_inject", "chaoskit_revert", "cli_inject",
                                                             "cli_revert")}
            for i in range(self.rounds + 1):  # the first round of each op warms caches and is dropped
                order = ("chaoskit", "cli") if i % 2 == 0 else ("cli", "chaoskit")
                for who in order:
                    inj, rev = self.chaoskit(op, i) if who == "chaoskit" else self.plain_cli(op)
                    if i:
                        times[f"{who}_inject"].append(inj)
                        times[f"{who}_revert"].append(rev)
                    time.sleep(0.2)
            out[op] = times
        return out

    def close(self) -> None:
        for c in self.docker.containers.list(all=True, filters={"label": f"chaoskit.bench={self.tag}"}):
            c.remove(force=True)
        shutil.rmtree(self.state, ignore_errors=True)
        self.loop.close()


def _drop_rules(pid: int) -> bool:
    """Whether DROP rules (chaoskit's or the CLI path's) are in pid's network namespace: one iptables-save."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables-save", "-t", "filter"], capture_output=True,
                         text=True, check=True).stdout
    return "-j DROP" in out


def summarize(times: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    rows = []
    for op, t in times.items():
        for phase in ("inject", "revert"):
            ours, cli = t[f"chaoskit_{phase}"], t[f"cli_{phase}"]
            med_ours, med_cli = statistics.median(ours), statistics.median(cli)
            rows.append({
                "operation": f"{op} {phase}", "rounds": len(ours),
                "chaoskit_median_ms": round(med_ours * 1000, 1),
                "chaoskit_p90_ms": round(sorted(ours)[int(0.9 * (len(ours) - 1))] * 1000, 1),
                "cli_median_ms": round(med_cli * 1000, 1),
                "cli_p90_ms": round(sorted(cli)[int(0.9 * (len(cli) - 1))] * 1000, 1),
                "ratio": round(med_ours / med_cli, 2),
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cli", help="the docker CLI to compare with; default: docker on PATH")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (nsenter into the container's network namespace)")
    bench = Bench(args.rounds, args.cli)
    try:
        rows = summarize(bench.measure())
    finally:
        bench.close()
    version = subprocess.run([bench.cli, "version", "-f", "{{.Client.Version}} / engine {{.Server.Version}}"],
                             capture_output=True, text=True).stdout.strip()
    if args.json:
        print(json.dumps({"docker": version, "rows": rows}, indent=2))
        return
    print(f"docker CLI {bench.cli} {version}; {args.rounds} rounds per operation, alternating")
    print("| operation | chaoskit median (p90) | docker CLI median (p90) | chaoskit / CLI |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['operation']} | {r['chaoskit_median_ms']} ms ({r['chaoskit_p90_ms']}) | "
              f"{r['cli_median_ms']} ms ({r['cli_p90_ms']}) | {r['ratio']}x |")


if __name__ == "__main__":
    main()
