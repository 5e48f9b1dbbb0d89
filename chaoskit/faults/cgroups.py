"""Where a process's cgroups are, on cgroup v1, v2 or a hybrid of both, found at run time.

A process is in one cgroup per *hierarchy*: on cgroup v1 one hierarchy per mounted controller set
(``cpu``, ``cpuacct``, ``memory``, ``name=systemd``, ...), on v2 a single unified one (``0::/path``). A hybrid machine
has both: v1 hierarchies for the controllers and a v2 one with none or few. :func:`cgroups_of` reads
``/proc/<pid>/cgroup`` and maps each line onto a directory through ``/proc/self/mountinfo``; the resulting
:class:`CgroupSet` reads usage and limits whichever version holds the controller, and is what a hog joins to share
the process's limits.

Stdlib only; nothing here writes except :meth:`Cgroup.add`.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

_LONG_ID = re.compile(r"\b([0-9a-f]{64})\b")  # container IDs in cgroup paths: shown as their first 12 characters
UNLIMITED = 1 << 62  # v1 reports "no limit" as a page-rounded LONG_MAX; anything above this is no limit


class CgroupError(Exception):
    """No usable cgroup hierarchy: not mounted, not mapped, or not writable. The message says which and why."""


@dataclass(frozen=True)
class Mount:
    """A mounted cgroup hierarchy: ``version`` 1 (with its ``controllers``) or 2."""

    version: int
    controllers: frozenset[str]
    root: str
    mountpoint: Path
    read_only: bool


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


_NOT_CONTROLLERS = frozenset({"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"})


def _controller_names() -> frozenset[str] | None:
    try:
        lines = Path("/proc/cgroups").read_text().splitlines()
    except OSError:
        return None
    return frozenset(line.split()[0] for line in lines if line and not line.startswith("#"))


def mounts(mountinfo: str | Path = "/proc/self/mountinfo") -> list[Mount]:
    """Every cgroup (v1) and cgroup2 (v2) mount of this mount namespace, in mount order."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return []
    names = _controller_names()
    out: list[Mount] = []
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        read_only = "ro" in fields[5].split(",") or "ro" in tail[2].split(",")
        if tail[0] == "cgroup2":
            out.append(Mount(2, frozenset(), _unescape(fields[3]), Path(_unescape(fields[4])), read_only))
            continue
        options = tail[2].split(",")
        known = names if names is not None else frozenset(o for o in options if o not in _NOT_CONTROLLERS)
        controllers = frozenset(o for o in options if o.startswith("name=") or (o in known and "=" not in o))
        out.append(Mount(1, controllers, _unescape(fields[3]), Path(_unescape(fields[4])), read_only))
    return out


@dataclass(frozen=True)
class Cgroup:
    """One cgroup directory: ``path`` inside its hierarchy, ``dir`` on this machine."""

    version: int
    controllers: frozenset[str]
    path: str
    dir: Path
    mount: Mount

    @property
    def procs_file(self) -> Path:
        return self.dir / "cgroup.procs"

    def label(self) -> str:
        what = ",".join(sorted(self.controllers)) if self.version == 1 else "unified"
        return f"{what}:{_LONG_ID.sub(lambda m: m.group(1)[:12], self.path)} (v{self.version})"

    def procs(self) -> list[int]:
        """The pids in this cgroup (empty when it is gone)."""
        try:
            return [int(p) for p in self.procs_file.read_text().split()]
        except (OSError, ValueError):
            return []

    def writable(self) -> str | None:
        """None when a process can be moved in here; otherwise why not."""
        if self.mount.read_only:
            return f"{self.mount.mountpoint} is mounted read-only"
        if not self.procs_file.exists():
            return f"{self.procs_file} does not exist (the cgroup is gone)"
        if not os.access(self.procs_file, os.W_OK):
            return f"{self.procs_file} is not writable by uid {os.geteuid()}"
        return None

    def add(self, pid: int) -> None:
        self.procs_file.write_text(f"{pid}\n")

    def read(self, name: str) -> str | None:
        try:
            return (self.dir / name).read_text()
        except OSError:
            return None

    def ancestors(self) -> list[Cgroup]:
        """This cgroup and its parents up to the top of what the mount shows, innermost first."""
        out = [self]
        node = self
        while node.dir != node.mount.mountpoint and node.dir.parent != node.dir:
            parent_path = node.path.rsplit("/", 1)[0] or "/"
            node = Cgroup(node.version, node.controllers, parent_path, node.dir.parent, node.mount)
            out.append(node)
        return out


def _map(path: str, mount: Mount) -> Path | None:
    root = mount.root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None  # the process is outside what this mount shows (another cgroup namespace)
    rel = path[len(root):].lstrip("/")
    return mount.mountpoint / rel if rel else mount.mountpoint


def _v2_controllers(directory: Path) -> frozenset[str]:
    try:
        return frozenset((directory / "cgroup.controllers").read_text().split())
    except OSError:
        return frozenset()


@dataclass(frozen=True)
class CgroupSet:
    """Every cgroup one process is in, one per hierarchy."""

    members: tuple[Cgroup, ...]

    def holding(self, controller: str) -> Cgroup | None:
        """The member whose hierarchy has ``controller`` (v1 first: on a hybrid machine v1 holds it)."""
        for cg in self.members:
            if cg.version == 1 and controller in cg.controllers:
                return cg
        for cg in self.members:
            if cg.version == 2 and controller in cg.controllers:
                return cg
        return None

    def require(self, controller: str, *, who: str) -> Cgroup:
        cg = self.holding(controller)
        if cg is None:
            raise CgroupError(
                f"{who} is in no cgroup with the {controller} controller: neither a cgroup v1 hierarchy nor the "
                f"cgroup v2 one has it enabled ({layout_text()})"
            )
        return cg

    def label(self) -> str:
        cpu, memory = self.holding("cpu"), self.holding("memory")
        shown = [cg for cg in (cpu, memory) if cg is not None] or list(self.members[:1])
        return ", ".join(dict.fromkeys(cg.label() for cg in shown))

    # -------------------------------------------------------------------------------------------- accounting

    def cpu_usage(self) -> float:
        """CPU seconds used by everything in the cgroup since it was made (cpuacct on v1, cpu.stat on v2)."""
        v1 = next((cg for cg in self.members if cg.version == 1 and "cpuacct" in cg.controllers), None)
        if v1 is not None:
            text = v1.read("cpuacct.usage")
            if text is not None:
                return int(text) / 1e9
        for cg in self.members:
            if cg.version == 2:
                stat = _keyed(cg.read("cpu.stat"))
                if "usage_usec" in stat:
                    return stat["usage_usec"] / 1e6
        raise CgroupError(f"no CPU accounting for {self.label()} (no cpuacct on v1, no cpu.stat on v2)")

    def cpu_limit(self) -> float | None:
        """The CPU limit in cores that applies (the tightest of the cgroup and its parents), or None."""
        cg = self.holding("cpu")
        if cg is None:
            return None
        limits: list[float] = []
        for node in cg.ancestors():
            if cg.version == 1:
                quota, period = node.read("cpu.cfs_quota_us"), node.read("cpu.cfs_period_us")
                if quota is not None and period is not None and int(quota) > 0:
                    limits.append(int(quota) / int(period))
            else:
                text = node.read("cpu.max")
                if text is not None and not text.startswith("max"):
                    quota_s, period_s = text.split()
                    limits.append(int(quota_s) / int(period_s))
        return min(limits) if limits else None

    def cpu_throttling(self) -> tuple[int, int] | None:
        """(CFS periods so far, periods in which the CPU limit throttled the cgroup), or None where the cgroup's
        cpu.stat does not count them (no cpu controller)."""
        cg = self.holding("cpu")
        stat = _keyed(cg.read("cpu.stat")) if cg is not None else {}
        if "nr_periods" not in stat or "nr_throttled" not in stat:
            return None
        return stat["nr_periods"], stat["nr_throttled"]

    def memory_usage(self) -> int:
        """Bytes charged to the cgroup (memory.usage_in_bytes on v1, memory.current on v2)."""
        cg = self.holding("memory")
        text = None if cg is None else cg.read("memory.usage_in_bytes" if cg.version == 1 else "memory.current")
        if text is None:
            raise CgroupError(f"no memory accounting for {self.label()}")
        return int(text)

    def memory_limit(self) -> int | None:
        """The memory limit in bytes that applies (the tightest of the cgroup and its parents), or None."""
        cg = self.holding("memory")
        if cg is None:
            return None
        limits: list[int] = []
        for node in cg.ancestors():
            text = node.read("memory.limit_in_bytes" if cg.version == 1 else "memory.max")
            if text is not None and text.strip() != "max" and int(text) < UNLIMITED:
                limits.append(int(text))
        return min(limits) if limits else None


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def cgroups_of(pid: int | str, *, proc: str | Path = "/proc", mountinfo: str | Path | None = None) -> CgroupSet:
    """The cgroups of ``pid`` ("self" for this process), mapped onto this machine's cgroup mounts.

    Raises :class:`CgroupError` when the process is gone or no cgroup filesystem is mounted.
    """
    try:
        lines = (Path(proc) / str(pid) / "cgroup").read_text().splitlines()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise CgroupError(f"no process {pid}") from None
        raise CgroupError(f"cannot read the cgroups of process {pid}: {exc.strerror}") from None
    known = mounts(mountinfo if mountinfo is not None else Path(proc) / "self" / "mountinfo")
    if not known:
        raise CgroupError("no cgroup filesystem (v1 or v2) is mounted; mount one at /sys/fs/cgroup")
    members: list[Cgroup] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        if not hierarchy or not path:
            continue
        if hierarchy == "0" and names == "":
            for m in known:
                if m.version == 2 and (directory := _map(path, m)) is not None:
                    members.append(Cgroup(2, _v2_controllers(directory), path, directory, m))
                    break
            continue
        wanted = frozenset(names.split(","))
        for m in known:
            if m.version == 1 and m.controllers == wanted and (directory := _map(path, m)) is not None:
                members.append(Cgroup(1, wanted, path, directory, m))
                break
    if not members:
        raise CgroupError(f"none of the cgroups of process {pid} is visible under a cgroup mount ({layout_text()})")
    return CgroupSet(tuple(members))


def layout_text(mountinfo: str | Path = "/proc/self/mountinfo") -> str:
    """A one-line description of the cgroup layout, for error messages: v1, v2 or hybrid, and where."""
    known = mounts(mountinfo)
    if not known:
        return "no cgroup filesystem mounted"
    v1 = sorted({c for m in known if m.version == 1 for c in m.controllers if not c.startswith("name=")})
    v2 = [m for m in known if m.version == 2]
    parts = []
    if v1:
        parts.append(f"cgroup v1 ({', '.join(v1)})")
    if v2:
        ctl = _v2_controllers(v2[0].mountpoint)
        parts.append(f"cgroup v2 at {v2[0].mountpoint} ({', '.join(sorted(ctl)) or 'no controllers'})")
    return " + ".join(parts)
