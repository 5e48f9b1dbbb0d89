"""The resource faults themselves: ``stress.cpu``, ``stress.memory`` and ``stress.disk``.

Their experiment models and registration are in :mod:`chaoskit.faults.stress`. A fault here resolves its target
to a :class:`HogSite` (which cgroups to join, which filesystem root to fill), starts :mod:`chaoskit.faults.hog`
detached in its own session at inject, and on revert stops it and proves that no process carrying the fault's tag
is left, in the target's cgroups or anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from chaoskit.errors import FaultError, RevertError
from chaoskit.faults import hog
from chaoskit.faults.cgroups import CgroupError, CgroupSet, cgroups_of
from chaoskit.faults.stress import (
    Amount,
    StressCpuSpec,
    StressDiskSpec,
    StressMemorySpec,
    StressSpec,
    StressTarget,
)
from chaoskit.registry import Fault

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment, FaultSpec
    from chaoskit.faults.container import ContainerSelector
    from chaoskit.runner.context import RunContext

HOG_SCRIPT = str(Path(hog.__file__).resolve())
#: the controller each kind needs in the target's cgroups (a disk fill needs none to work)
NEEDS = {"stress.cpu": ("cpu",), "stress.memory": ("memory",), "stress.disk": ()}


# ----------------------------------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class HogSite:
    """Where one hog runs: ``cgroups`` to join (None: the host, chaoskit's own), ``root`` of the target's files."""

    label: str
    cgroups: CgroupSet | None
    root: str = "/"

    def key(self) -> tuple[str, ...]:
        return tuple(str(cg.dir) for cg in self.cgroups.members) if self.cgroups is not None else ("host",)


def _process_site(pid: int, label: str) -> HogSite:
    try:
        cgroups = cgroups_of(pid)
    except CgroupError as exc:
        raise FaultError(f"cannot attach a hog to {label}: {exc}", target=label) from None
    return HogSite(f"{label}, cgroup {cgroups.label()}", cgroups, f"/proc/{pid}/root")


def _container_sites(selector: ContainerSelector, ctx: RunContext | None, fault: str) -> list[HogSite]:
    from chaoskit.faults import _docker

    docker = ctx.services.get("docker") if ctx is not None else None
    if docker is None:
        docker = _docker.client()
        if ctx is not None:
            ctx.services["docker"] = docker
    seed = selector.seed
    if seed is None and ctx is not None:
        seed = _docker.run_seed(ctx.run_id, fault)
    selection = _docker.select(docker, selector, seed)
    sites = []
    for c in selection.chosen:
        state = c.attrs.get("State", {})
        pid = int(state.get("Pid") or 0)
        label = f"container {_docker.name_of(c)} ({c.id[:12]})"
        if not state.get("Running") or pid <= 0:
            raise FaultError(f"{label} is not running (status {state.get('Status', '?')})", target=label)
        site = _process_site(pid, label)
        note = selection.note() if seed is not None else (
            f"; {len(selection.chosen)} of {len(selection.matched)}, chosen at run time"
            if len(selection.chosen) < len(selection.matched) else "")
        sites.append(HogSite(site.label + note, site.cgroups, site.root))
    return sites


def resolve_sites(target: StressTarget, ctx: RunContext | None, fault: str = "") -> list[HogSite]:
    """One site per distinct set of cgroups the target selects (processes sharing cgroups share a hog)."""
    if target.host:
        return [HogSite("host", None)]
    if target.container is not None:
        return _container_sites(target.container, ctx, fault)
    from chaoskit.faults.process import ProcessSelector, resolve

    selector = ProcessSelector(**{k: getattr(target, k) for k in ("process", "pid", "pidfile", "match")})
    sites: dict[tuple[str, ...], HogSite] = {}
    for pid, label, _ in resolve(selector, ctx):
        site = _process_site(pid, label)
        sites.setdefault(site.key(), site)
    return list(sites.values())


def _writable(site: HogSite, kind: str) -> tuple[list[str], list[str]]:
    """(procs files the hog must join, procs files it joins if it can); FaultError when a needed one is not
    writable, naming the cgroup version and why."""
    if site.cgroups is None:
        return [], []
    required, optional = [], []
    needed = [site.cgroups.require(c, who=site.label) for c in NEEDS[kind]] if NEEDS[kind] else []
    for cg in site.cgroups.members:
        problem = cg.writable()
        if cg in needed:
            if problem is not None:
                raise FaultError(
                    f"cannot attach a hog to {site.label}: its {kind.split('.')[1]} cgroup {cg.label()} cannot take "
                    f"a process: {problem}. chaoskit must run as root with /sys/fs/cgroup writable (in a container: "
                    "--cgroupns=host and /sys/fs/cgroup mounted read-write; on cgroup v2 a delegated subtree works "
                    "too)", target=site.label,
                )
            required.append(str(cg.procs_file))
        elif problem is None:
            optional.append(str(cg.procs_file))
    return required, optional


# ------------------------------------------------------------------------------------------------ processes


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _tagged(pid: int, tag: str) -> bool:
    argv = _cmdline(pid)
    return any(a == "--tag" and b == tag for a, b in itertools.pairwise(argv)) and (
        hog.start_time(pid) is not None
    )


def hog_pids(tag: str, procs_files: list[str] | None = None) -> list[int]:
    """Live processes of the hog ``tag``: those in ``procs_files`` (cgroup.procs), or on the whole machine."""
    if procs_files is not None:
        candidates: set[int] = set()
        for path in procs_files:
            with contextlib.suppress(OSError, ValueError):
                candidates.update(int(p) for p in Path(path).read_text().split())
    else:
        candidates = {int(e) for e in os.listdir("/proc") if e.isdigit()}
    return sorted(pid for pid in candidates if _tagged(pid, tag))


def _runner_watch() -> str:
    pid = os.getpid()
    return f"{pid}:{hog.start_time(pid)}"


# ---------------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class CpuMark:
    """A cgroup's CPU accounting at one moment: seconds used, and CFS (periods, throttled periods) if counted."""

    at: float
    usage: float
    throttling: tuple[int, int] | None

    @classmethod
    def read(cls, cgroups: CgroupSet) -> CpuMark | None:
        try:
            return cls(time.monotonic(), cgroups.cpu_usage(), cgroups.cpu_throttling())
        except CgroupError:  # no CPU accounting (or the target is gone): nothing to observe
            return None


@dataclass
class HogFault(Fault):
    """One hog in one site. ``args`` are the hog's kind-specific arguments; ``procs`` every cgroup.procs it may
    join (all are checked for residue)."""

    kind: ClassVar[str] = ""
    what: ClassVar[str] = ""

    label: str
    tag: str
    args: list[str]
    duration: float
    margin: float
    join: list[str] = field(default_factory=list)
    join_optional: list[str] = field(default_factory=list)
    log: Path | None = None
    ready_timeout: float = 30.0
    popen: subprocess.Popen[bytes] | None = None
    ready: str = ""
    cgroups: CgroupSet | None = None
    _began: CpuMark | None = field(default=None, repr=False)
    _observed: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def target(self) -> str:
        return self.label

    @property
    def procs(self) -> list[str]:
        return [*self.join, *self.join_optional]

    def undo(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "tag": self.tag, "procs": self.procs, "margin": self.margin}

    def argv(self) -> list[str]:
        out = [sys.executable, "-I", "-S", HOG_SCRIPT, self.what, *self.args, "--duration", f"{self.duration:g}",
               "--margin", f"{self.margin:g}", "--tag", self.tag, "--watch", _runner_watch()]
        for path in self.join:
            out += ["--join", path]
        for path in self.join_optional:
            out += ["--join-optional", path]
        return out

    async def inject(self) -> None:
        log = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.popen = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )
        except OSError as exc:
            raise FaultError(f"cannot start the hog for {self.label}: {exc.strerror}", target=self.label) from exc
        finally:
            if not isinstance(log, int):
                log.close()
        assert self.popen.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.popen.stdout.readline), self.ready_timeout)
        except TimeoutError:
            raise FaultError(f"the hog for {self.label} was not in place after {self.ready_timeout:g}s",
                             target=self.label) from None
        finally:
            self.popen.stdout.close()
        text = line.decode(errors="replace").strip()
        if text.startswith("error "):
            raise FaultError(f"the hog could not start in {self.label}: {text[6:]}", target=self.label)
        if not text.startswith("ready "):
            code = await asyncio.to_thread(self.popen.wait)
            how = f"status {code}"
            if code < 0:
                how = f"signal {signal.Signals(-code).name}"
                if code == -signal.SIGKILL and self.what == "memory":
                    how += " (the OOM killer: the target's memory limit is below what the hog asked for)"
            where = f"; see {self.log}" if self.log is not None else ""
            raise FaultError(f"the hog for {self.label} ended by {how} before it was ready{where}",
                             target=self.label)
        self.ready = text
        if self.what == "cpu" and self.cgroups is not None:
            self._began = CpuMark.read(self.cgroups)

    def observations(self) -> dict[str, Any]:
        """For a CPU hog in a target's cgroup: the CPU the cgroup used while the hog ran, against its limit, and
        how often the limit throttled it (a hog that did not reach the limit shows here)."""
        return dict(self._observed)

    def _observe_cpu(self) -> None:
        began, self._began = self._began, None
        if began is None or self.cgroups is None:
            return
        ended = CpuMark.read(self.cgroups)
        if ended is None or ended.at - began.at < 0.05:
            return
        used = (ended.usage - began.usage) / (ended.at - began.at)
        limit = self.cgroups.cpu_limit()
        self._observed["cpu_used"] = f"{used:.2f} cores" + (f" of its {limit:g} limit" if limit else " (no limit)")
        if began.throttling is not None and ended.throttling is not None:
            periods = ended.throttling[0] - began.throttling[0]
            throttled = ended.throttling[1] - began.throttling[1]
            if periods > 0:
                self._observed["throttled"] = f"{throttled / periods:.0%} of {periods} CFS periods"

    async def revert(self) -> None:
        try:
            self._observe_cpu()  # before the hog stops: the cgroup's usage over the time it ran
        except (OSError, ValueError, IndexError) as exc:  # an observation never keeps the hog running
            self._observed["cpu_used"] = f"not read: {exc}"
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)  # unreaped, so the pid cannot have been reused
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.popen.wait, 3.0)
        for pid in hog_pids(self.tag):  # a hog of a crashed run, or a worker its supervisor left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.popen.wait, 5.0)

    async def verify_reverted(self) -> None:
        deadline = time.monotonic() + 5.0
        while True:
            left = sorted(set(hog_pids(self.tag, self.procs)) | set(hog_pids(self.tag)))
            if not left:
                return
            if time.monotonic() > deadline:
                raise RevertError(
                    f"hog processes {', '.join(map(str, left))} (tag {self.tag}) are still running in {self.label}",
                    target=self.label,
                )
            await asyncio.sleep(0.05)


class StressCpu(HogFault):
    kind = "stress.cpu"
    what = "cpu"


class StressMemory(HogFault):
    kind = "stress.memory"
    what = "memory"


class StressDisk(HogFault):
    kind = "stress.disk"
    what = "disk"


CLASSES: dict[str, type[HogFault]] = {cls.kind: cls for cls in (StressCpu, StressMemory, StressDisk)}


def _memory_total() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise FaultError("cannot read MemTotal from /proc/meminfo")


def memory_bytes(size: Amount, site: HogSite) -> int:
    """The bytes a memory hog takes: a size, or a share of the limit that applies to the site."""
    if size.bytes is not None:
        return size.bytes
    assert size.fraction is not None
    limit = site.cgroups.memory_limit() if site.cgroups is not None else None
    return int(size.fraction * min(limit or _memory_total(), _memory_total()))


def disk_bytes(size: Amount, directory: str) -> int:
    """The bytes a disk fill takes: a size, or a share of the space free in ``directory`` now."""
    if size.bytes is not None:
        return size.bytes
    assert size.fraction is not None
    try:
        st = os.statvfs(directory)
    except OSError as exc:
        raise FaultError(f"cannot read the free space of {directory}: {exc.strerror}", target=directory) from None
    return int(size.fraction * st.f_bavail * st.f_frsize)


def _site_fault(spec: StressSpec, site: HogSite, ctx: RunContext | None) -> HogFault:
    required, optional = _writable(site, spec.type)
    cls = CLASSES[spec.type]
    timeout = 30.0
    if isinstance(spec, StressCpuSpec):
        args = ["--workers", str(spec.params.workers), "--load", f"{spec.params.load:g}"]
        detail = f"{spec.params.workers} worker(s) at {spec.params.load:.0%}"
    elif isinstance(spec, StressMemorySpec):
        size = memory_bytes(spec.params.size, site)
        args = ["--bytes", str(size), "--oom-score-adj", str(spec.params.oom_score_adj)]
        detail, timeout = f"{size / 1e6:.0f} MB", 30.0 + size / 200e6
    else:
        assert isinstance(spec, StressDiskSpec)
        directory = os.path.join(site.root, spec.params.path.lstrip("/")) if site.root != "/" else spec.params.path
        size = disk_bytes(spec.params.size, directory)
        args = ["--bytes", str(size), "--dir", directory]
        detail, timeout = f"{size / 1e6:.0f} MB in {spec.params.path}", 30.0 + size / 50e6
    log = None
    if ctx is not None:
        log = ctx.state_dir / "runs" / ctx.run_id / f"hog-{spec.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
    return cls(
        label=f"{site.label}: {detail}",
        tag=f"chaoskit-{uuid.uuid4().hex[:12]}",
        args=args,
        duration=spec.duration,
        margin=spec.params.margin,
        join=required,
        join_optional=optional,
        log=log,
        ready_timeout=timeout,
        cgroups=site.cgroups,
    )


# ---------------------------------------------------------------------------------------------- kind hooks


def create(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    assert isinstance(spec, StressSpec)
    try:
        return [_site_fault(spec, site, ctx) for site in resolve_sites(spec.target, ctx, spec.name)]
    except CgroupError as exc:
        raise FaultError(f"fault {spec.name}: {exc}", fault=spec.name, target=spec.target.describe()) from None


def restore(undo: Mapping[str, Any]) -> Fault:
    """A hog from a ledger record: reverting it kills every process with its tag; it knows nothing else."""
    procs = [str(p) for p in undo.get("procs", [])]
    cls = CLASSES.get(str(undo.get("kind")), StressCpu)
    return cls(label=str(undo.get("label", "hog")), tag=str(undo["tag"]), args=[], duration=0.0,
                    margin=float(undo.get("margin", 0.0)), join=procs)


def preview(spec: FaultSpec, experiment: Experiment) -> list[str]:
    assert isinstance(spec, StressSpec)
    if spec.target.process is not None:
        return [f"target process {spec.target.process} (started by the run), in its cgroups"]
    try:
        sites = resolve_sites(spec.target, None, spec.name)
    except (FaultError, CgroupError) as exc:
        return [f"nothing yet: {exc}"]
    return [site.label if site.cgroups is not None else "host (chaoskit's own cgroups)" for site in sites]
