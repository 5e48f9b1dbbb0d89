"""A cgroup made for one test (or benchmark) with a CPU and memory limit, on cgroup v1 or v2, and reaped after.

On v1 the cgroup is a child of the test process's own cgroup in the cpu, cpuacct and memory hierarchies (so a
sandbox's accounting above it still sees everything); on v2 a child of the root, whose subtree has the controllers.
``shares`` raises the cgroup's CPU weight so that neighbours on a busy machine do not keep it from reaching its
limit: the tests measure what the hog does inside the limit, not how contended the machine is. ``period`` is the CFS
period of the CPU limit: the quota is spent in bursts once per period, so a short period (10 ms) lets half-second
windows of accounting show the limit without the burst pattern's quantisation (up to a burst per window).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from chaoskit.faults.cgroups import Cgroup, CgroupError, CgroupSet, cgroups_of

SLEEPER = "import time\nfor _ in range(6000):\n    time.sleep(0.05)\n"  # exits by itself after ~5 minutes


class Unavailable(Exception):
    """This machine cannot give a test a cgroup (not root, nothing writable): the test is skipped, saying why."""


class ScratchCgroup:
    def __init__(
        self, *, cpus: float | None = None, memory: int | None = None, shares: int | None = 262144,
        period: int = 100_000,
    ) -> None:
        self.period = period
        self.name = f"chaoskit-test-{uuid.uuid4().hex[:8]}"
        self.dirs: list[Path] = []
        try:
            own = cgroups_of("self")
        except CgroupError as exc:
            raise Unavailable(str(exc)) from None
        try:
            self._make(own, cpus, memory, shares)
        except OSError as exc:
            self.close()
            raise Unavailable(f"cannot make a cgroup for the test: {exc}") from None

    def _make(self, own: CgroupSet, cpus: float | None, memory: int | None, shares: int | None) -> None:
        v1 = [cg for cg in own.members if cg.version == 1 and cg.controllers & {"cpu", "cpuacct", "memory"}]
        wanted = {"cpu", "memory"}
        if {c for cg in v1 for c in cg.controllers} >= wanted:
            for cg in v1:
                d = cg.dir / self.name
                d.mkdir()
                self.dirs.append(d)
                if "cpu" in cg.controllers:
                    if cpus is not None:
                        (d / "cpu.cfs_period_us").write_text(str(self.period))
                        (d / "cpu.cfs_quota_us").write_text(str(int(cpus * self.period)))
                    if shares is not None:
                        (d / "cpu.shares").write_text(str(shares))
                if "memory" in cg.controllers and memory is not None:
                    (d / "memory.limit_in_bytes").write_text(str(memory))
            return
        v2 = next((cg for cg in own.members if cg.version == 2), None)
        if v2 is None or not wanted <= v2.controllers:
            raise Unavailable("neither cgroup v1 nor v2 offers the cpu and memory controllers here")
        root = v2.mount.mountpoint
        if not {"cpu", "memory"} <= set((root / "cgroup.subtree_control").read_text().split()):
            (root / "cgroup.subtree_control").write_text("+cpu +memory")
        d = root / self.name
        d.mkdir()
        self.dirs.append(d)
        if cpus is not None:
            (d / "cpu.max").write_text(f"{int(cpus * self.period)} {self.period}")
        if shares is not None:
            (d / "cpu.weight").write_text(str(min(10000, max(1, shares * 100 // 1024))))  # 10000: the top v2 weight
        if memory is not None:
            (d / "memory.max").write_text(str(memory))

    def add(self, pid: int) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    def spawn_sleeper(self) -> subprocess.Popen[bytes]:
        """A process inside the cgroup that does nothing: the target a hog attaches to."""
        proc = subprocess.Popen([sys.executable, "-c", SLEEPER, self.name], start_new_session=True)
        self.add(proc.pid)
        return proc

    @property
    def cgroups(self) -> CgroupSet:
        """The cgroup as chaoskit sees it (through a process in it would be the same)."""
        members = []
        own = cgroups_of("self")
        for d in self.dirs:
            parent = next(cg for cg in own.members if d.parent == cg.dir or d.parent == cg.mount.mountpoint)
            members.append(Cgroup(parent.version, parent.controllers if parent.version == 1 else
                                  frozenset((d / "cgroup.controllers").read_text().split()),
                                  f"{parent.path.rstrip('/')}/{self.name}", d, parent.mount))
        return CgroupSet(tuple(members))

    def throttled(self) -> int:
        """How many CFS periods the cgroup was throttled in (its CPU limit at work)."""
        for d in self.dirs:
            for line in ((d / "cpu.stat").read_text() if (d / "cpu.stat").exists() else "").splitlines():
                key, _, value = line.partition(" ")
                if key == "nr_throttled":
                    return int(value)
        return 0

    def pids(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return out

    def close(self) -> None:
        """Kill whatever is still inside, then remove the cgroup."""
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for d in reversed(self.dirs):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.dirs = [d for d in self.dirs if d.exists()]

    def __enter__(self) -> ScratchCgroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
