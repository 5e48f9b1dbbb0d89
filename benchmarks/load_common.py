"""Shared pieces of the load benchmarks (issue 6): a target on 127.0.0.1, CPU sampling, and the two load
generators under test (plain ``locust --headless`` and chaoskit's load driver).

Two targets, both counted server-side, so both generators are measured the same way: requests the server
answered between two samples taken after a warm-up.

- ``nginx`` (``worker_processes 1``, ``access_log off``, ``return 200``), counted through ``stub_status``;
- ``responder``: ``load_responder.c``, a single-threaded epoll loop that answers every request with the same
  200 and parses nothing but the blank line ending each request (compiled with ``cc`` into ``.work``). Most of a
  request's cost on either is the kernel's loopback TCP work, but the responder still spends ~10 % less CPU per
  request than nginx, which counts where the target shares the 2 cores with the load generators (the
  distributed speed-up).

Every run also records the CPU of the load generator's process tree (per role: driver, load child or master,
worker), of the target, of the kernel's softirq work (loopback TCP, charged to no process), and of everything
else on the machine (``foreign``), because this VM is shared.

``python benchmarks/load_common.py chaoskit-run ...`` is the chaoskit side of a trial: it runs
:class:`chaoskit.load.driver.LocustLoad` for a fixed time in its own process and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
PY = sys.executable

LOCUSTFILE = """\
from locust import FastHttpUser, task


class Bench(FastHttpUser):
    @task
    def index(self):
        self.client.get("/")
"""

NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "hello, chaoskit\\n"; }}
        location = /err {{ return 500; }}
        location = /_status {{ stub_status; }}
    }}
}}
"""


def exit_on_sigterm() -> None:
    """Let ``finally`` blocks (stopping nginx, the load) run when the benchmark is terminated."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def locustfile() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "bench_locustfile.py"
    path.write_text(LOCUSTFILE)
    return path


class Nginx:
    """nginx in the foreground on 127.0.0.1:port, owned by this process."""

    name = "nginx"

    def __init__(self, port: int = 18088) -> None:
        if shutil.which("nginx") is None:
            raise SystemExit("nginx is needed (Debian: apt-get install nginx-light)")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        (WORK / "tmp").mkdir(parents=True, exist_ok=True)
        conf = WORK / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=WORK, port=port))
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(WORK)])
        deadline = time.monotonic() + 10
        while True:
            try:
                self.requests()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def requests(self) -> int:
        with urllib.request.urlopen(self.url + "/_status", timeout=5) as r:
            lines = r.read().decode().splitlines()
        return int(lines[2].split()[2])

    def pids(self) -> list[int]:
        p = psutil.Process(self.proc.pid)
        return [p.pid, *(c.pid for c in p.children(recursive=True))]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Responder:
    """``load_responder.c`` on 127.0.0.1:port (its count on port + 1), owned by this process."""

    name = "responder"

    def __init__(self, port: int = 18090, max_seconds: int = 7200) -> None:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise SystemExit("a C compiler is needed for the responder target (Debian: apt-get install gcc)")
        WORK.mkdir(parents=True, exist_ok=True)
        binary = WORK / "load_responder"
        source = Path(__file__).resolve().parent / "load_responder.c"
        subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([str(binary), str(port), str(port + 1), str(max_seconds)], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if line[:1] != ["ready"]:
            raise SystemExit(f"load_responder did not start: {line}")

    def requests(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port + 1}/", timeout=5) as r:
            return int(r.read().decode()) + 1  # as nginx's count, which includes the status request itself

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


Target = Nginx | Responder


def make_target(kind: str) -> Target:
    return Responder() if kind == "responder" else Nginx()


def role(pid: int) -> str:
    """What a process of a load generator's tree is: driver, child (a load child or master), worker, locust."""
    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:
        return "gone"
    text = " ".join(argv)
    if "chaoskit.load.worker" in text or "--worker" in argv:
        return "worker"
    if "chaoskit.load.child" in text:
        return "child"
    if "chaoskit-run" in argv:
        return "driver"
    return "locust"


def softirq() -> float:
    t = psutil.cpu_times()
    return t.irq + t.softirq


def tree_cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def tree_pids(pid: int) -> list[int]:
    try:
        p = psutil.Process(pid)
        return [pid, *(c.pid for c in p.children(recursive=True))]
    except psutil.Error:
        return []


def busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


@dataclass
class Trial:
    """One measured run of one load generator."""

    kind: str
    users: int
    processes: int
    rps: float = 0.0
    loadgen_cpu: float = 0.0
    nginx_cpu: float = 0.0
    """CPU of the target (nginx or the responder), % of one core."""
    foreign_cpu: float = 0.0
    softirq_cpu: float = 0.0
    roles: dict[str, list[float]] = field(default_factory=dict)
    """CPU (% of one core) of each process of the load generator's tree, by role."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_us_per_request(self) -> float:
        """CPU the load generator spent per request: its overhead, whatever else the machine is doing."""
        return self.loadgen_cpu / 100 * 1e6 / self.rps if self.rps else float("nan")


def measure_clean(
    kind: str,
    argv: list[str],
    nginx: Target,
    *,
    users: int,
    processes: int,
    warm: float,
    span: float,
    max_foreign: float,
    attempts: int = 4,
) -> Trial:
    """:func:`measure`, repeated (after a pause) while other jobs use more than ``max_foreign`` % CPU."""
    for attempt in range(attempts):
        trial = measure(kind, argv, nginx, users=users, processes=processes, warm=warm, span=span)
        trial.extra["attempt"] = attempt
        if trial.foreign_cpu <= max_foreign:
            return trial
        time.sleep(5 + 5 * attempt)
    return trial


def measure(
    kind: str, argv: list[str], nginx: Target, *, users: int, processes: int, warm: float, span: float
) -> Trial:
    """Start ``argv``; after ``warm`` seconds count what the target serves for ``span`` seconds; wait for the end."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=WORK)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else b""), daemon=True)
    reader.start()
    try:
        time.sleep(warm)
        pids = tree_pids(proc.pid)
        roles = {pid: role(pid) for pid in pids}
        c1, t1, cpu1, ng1, b1 = nginx.requests(), time.monotonic(), tree_cpu(pids), tree_cpu(nginx.pids()), busy()
        s1 = softirq()
        time.sleep(span)
        c2, t2, cpu2, ng2, b2 = nginx.requests(), time.monotonic(), tree_cpu(pids), tree_cpu(nginx.pids()), busy()
        s2 = softirq()
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    reader.join(10)
    elapsed = t2 - t1
    loadgen = sum(cpu2[p] - cpu1[p] for p in cpu2 if p in cpu1)
    ng = sum(ng2[p] - ng1[p] for p in ng2 if p in ng1)
    trial = Trial(
        kind,
        users,
        processes,
        rps=(c2 - c1 - 1) / elapsed,  # minus our own second /_status request
        loadgen_cpu=100 * loadgen / elapsed,
        nginx_cpu=100 * ng / elapsed,
        foreign_cpu=max(100 * ((b2 - b1) - loadgen - ng - (s2 - s1)) / elapsed, 0.0),
        softirq_cpu=100 * (s2 - s1) / elapsed,
    )
    for pid in sorted(cpu2):
        if pid in cpu1:
            trial.roles.setdefault(roles.get(pid, "gone"), []).append(round(100 * (cpu2[pid] - cpu1[pid]) / elapsed, 1))
    text = b"".join(out).decode(errors="replace").strip().splitlines()
    if text and text[-1].startswith("{"):
        trial.extra.update(json.loads(text[-1]))
    return trial


def locust_argv(lf: Path, url: str, users: int, processes: int, seconds: float, *, forked: bool = False) -> list[str]:
    """Plain ``locust --headless``: one process, or with ``forked`` (or ``processes`` > 1) a master and
    ``--processes`` forked workers."""
    argv = [PY, "-m", "locust", "-f", str(lf), "--headless", "-u", str(users), "-r", str(users)]
    argv += ["-t", f"{int(seconds)}s", "--host", url, "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "0"]
    if processes > 1 or forked:
        argv += ["--processes", str(processes)]
    return argv


def chaoskit_argv(
    lf: Path | None, url: str, users: int, processes: int, seconds: float, *, rate: float | None = None, **kw: Any
) -> list[str]:
    argv = [PY, str(Path(__file__).resolve()), "chaoskit-run", "--host", url, "--users", str(users)]
    argv += ["--processes", str(processes), "--seconds", str(seconds)]
    if lf is not None:
        argv += ["--locustfile", str(lf)]
    if rate is not None:
        argv += ["--rate", str(rate)]
    for key, value in kw.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------------------------- chaoskit side


async def _chaoskit_run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from chaoskit.load.driver import LoadPlan, LocustLoad
    from chaoskit.load.protocol import ChildConfig, MasterConfig

    http = None if args.locustfile else {"host": args.host, "requests": [{"path": "/"}]}
    master = None
    if args.workers:
        master = MasterConfig("127.0.0.1", args.master_port, args.workers, 60.0)
    config = ChildConfig(
        index=0,
        users=args.users,
        spawn_rate=float(args.users),
        thresholds=(0.1, 0.5),
        rate=args.rate,
        locustfile=args.locustfile,
        http=http,
        host=args.host,
        max_duration=args.seconds + 60,
        master=master,
    )
    load = LocustLoad(LoadPlan(config, processes=args.processes, local_workers=args.workers))
    rss: dict[str, list[float]] = {"driver": [], "children": []}
    windows = total = limited = 0

    # Delivery lags of windows that closed before stop(), after a 2 s start-up, in a bounded histogram: the
    # benchmark must not grow the driver's memory it measures.
    from chaoskit.slo.histogram import LatencyHistogram

    lag_histogram = LatencyHistogram()
    lag_max = 0.0
    first_end: float | None = None
    stop_at = float("inf")

    async def consume() -> None:
        nonlocal windows, total, limited, lag_max, first_end
        async for w in load.windows():
            windows += 1
            total += w.count
            limited += w.limited
            lag = time.time() - w.end
            first_end = w.end if first_end is None else first_end
            if first_end + 2.0 <= w.end <= stop_at:
                lag_histogram.record(lag)
                lag_max = max(lag_max, lag)

    async def sample_memory() -> None:
        me = psutil.Process()
        while True:
            await asyncio.sleep(args.memory_every)
            rss["driver"].append(me.memory_info().rss / 2**20)
            kids = []
            for pid in load.pids:
                with contextlib.suppress(psutil.Error):
                    kids.append(psutil.Process(pid).memory_info().rss / 2**20)
            rss["children"].append(max(kids, default=0.0))

    task = asyncio.create_task(consume())
    sampler = asyncio.create_task(sample_memory())
    await asyncio.sleep(args.seconds)
    sampler.cancel()
    stop_at = time.time()
    await load.stop()
    await task

    return {
        "windows": windows,
        "requests": total,
        "limited_windows": limited,
        "lag_ms_p50": 1000 * (lag_histogram.quantile(0.5) or float("nan")),
        "lag_ms_p99": 1000 * (lag_histogram.quantile(0.99) or float("nan")),
        "lag_ms_max": 1000 * lag_max,
        "lag_n": lag_histogram.count,
        "child_emit_ms_p50": 1000 * (load.emit_lag.quantile(0.5) or float("nan")),
        "child_emit_ms_p99": 1000 * (load.emit_lag.quantile(0.99) or float("nan")),
        "pipe_ms_p50": 1000 * (load.pipe_lag.quantile(0.5) or float("nan")),
        "pipe_ms_p99": 1000 * (load.pipe_lag.quantile(0.99) or float("nan")),
        "rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("chaoskit-run")
    run.add_argument("--host", required=True)
    run.add_argument("--locustfile")
    run.add_argument("--users", type=int, default=50)
    run.add_argument("--processes", type=int, default=1)
    run.add_argument("--seconds", type=float, default=14.0)
    run.add_argument("--rate", type=float)
    run.add_argument("--workers", type=int, default=0)
    run.add_argument("--master-port", type=int, default=15599)
    run.add_argument("--memory-every", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_chaoskit_run(args))), flush=True)


if __name__ == "__main__":
    main()
