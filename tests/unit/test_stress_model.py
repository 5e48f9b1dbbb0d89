"""stress.* experiment models (sizes, targets, located errors) and cgroup discovery on v1, v2 and hybrid layouts
(fake /proc and /sys trees, so the v2 paths are exercised on any machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.faults.cgroups import CgroupError, cgroups_of, mounts
from chaoskit.faults.stress import parse_amount
from tests.unit.runner_helpers import build, fake_plugins

# --------------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "expected"),
    [("200MB", 200_000_000), ("200 MiB", 200 << 20), ("1.5GiB", 3 << 29), ("1g", 10**9), ("512", 512),
     (4096, 4096), ("64kB", 64_000), ("2Ti", 2 << 40)],
)
def test_sizes_in_si_and_iec_units(text: object, expected: int) -> None:
    assert parse_amount(text).bytes == expected


def test_a_percentage_is_a_share_not_bytes() -> None:
    amount = parse_amount("80%")
    assert amount.bytes is None and amount.fraction == pytest.approx(0.8) and str(amount) == "80%"


@pytest.mark.parametrize(("text", "message"), [
    ("200 parsecs", "unknown size unit 'parsecs'"), ("0MB", "more than 0"), ("150%", "at most 100%"),
    (True, "expected a size"), ([1], "expected a size"), (-5, "more than 0"),
])
def test_bad_sizes_say_what_is_expected(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(text)


# ------------------------------------------------------------------------------------------------- models


def test_specs_validate_with_defaults() -> None:
    plugins, _ = fake_plugins()
    exp = build(plugins, faults=[
        {"name": "cpu", "type": "stress.cpu", "target": {"host": True}, "duration": "10s"},
        {"name": "mem", "type": "stress.memory", "target": {"pid": 4242}, "params": {"size": "80%"}, "duration": "5s"},
        {"name": "disk", "type": "stress.disk", "target": {"container": "api"}, "params": {"size": "1GB"},
         "duration": "5s"},
    ])
    cpu, mem, disk = exp.faults
    assert cpu.params.workers == 1 and cpu.params.load == 1.0 and cpu.params.margin == 5.0  # type: ignore[attr-defined]
    assert mem.params.size.fraction == pytest.approx(0.8) and mem.params.oom_score_adj == 1000  # type: ignore[attr-defined]
    assert disk.params.path == "/tmp" and disk.target.container.name == "api"  # type: ignore[attr-defined]


def test_containers_by_name_or_by_the_container_faults_selector() -> None:
    plugins, _ = fake_plugins()
    exp = build(plugins, faults=[
        {"name": "one", "type": "stress.cpu", "target": {"container": "shop-api-1"}, "duration": "1s"},
        {"name": "svc", "type": "stress.cpu", "duration": "1s",
         "target": {"container": {"compose": {"project": "demo", "service": "api"}, "count": 1, "seed": 7}}},
    ])
    one, svc = (f.target.container for f in exp.faults)  # type: ignore[attr-defined]
    assert one.name == "shop-api-1" and one.count is None
    assert svc.compose.service == "api" and svc.count == 1 and svc.seed == 7
    assert exp.faults[1].target.describe() == "containers with compose demo/api"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="give at least one of name, labels or compose"):
        build(plugins, faults=[{"name": "x", "type": "stress.cpu", "target": {"container": {"count": 1}},
                                "duration": "1s"}])


@pytest.mark.parametrize(("fault", "message"), [
    ({"target": {"host": True, "pid": 5}}, "exactly one of host, process, pid"),
    ({"target": {}}, "exactly one of host, process, pid"),
    ({"target": {"match": "("}}, "not a valid regular expression"),
    ({"target": {"host": True}, "params": {"load": "0%"}}, "greater than 0"),
    ({"target": {"host": True}, "params": {"load": "150%"}}, "between 0% and 100%"),
    ({"target": {"host": True}, "params": {"workers": 0}}, "greater than or equal to 1"),
    ({"target": {"host": True}, "params": {"wrokers": 2}}, "wrokers"),
])
def test_bad_cpu_specs_are_rejected(fault: dict[str, object], message: str) -> None:
    plugins, _ = fake_plugins()
    with pytest.raises(ValueError, match=message):
        build(plugins, faults=[{"name": "cpu", "type": "stress.cpu", "duration": "1s", **fault}])


def test_an_unknown_target_process_is_a_located_problem_with_a_hint(tmp_path: Path) -> None:
    from chaoskit.experiment.loader import load_experiment
    from chaoskit.plugins import plugin_manager

    path = tmp_path / "exp.yaml"
    path.write_text(
        "version: 1\ntitle: t\n"
        "target:\n  processes:\n    - {name: api, command: [python, -m, http.server]}\n"
        "faults:\n  - {name: hog, type: stress.cpu, target: {process: apj}, duration: 1s}\n"
    )
    from chaoskit.errors import ExperimentError

    with pytest.raises(ExperimentError) as info:
        load_experiment(path, plugin_manager(entry_points_enabled=False).registry)
    text = str(info.value)
    assert "no target process named 'apj'" in text and "did you mean 'api'?" in text and "exp.yaml:7:53" in text


# ------------------------------------------------------------------------------------------------ cgroups


def _tree(tmp_path: Path, mountinfo: str, proc_cgroup: str, files: dict[str, str]) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "4242").mkdir()
    (proc / "self" / "mountinfo").write_text(mountinfo.replace("@", str(tmp_path)))
    (proc / "4242" / "cgroup").write_text(proc_cgroup)
    for rel, text in files.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return proc


V2_MOUNTINFO = "41 31 0:38 / @/cg rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_cgroup_v2_usage_and_the_tightest_limit_of_the_ancestors(tmp_path: Path) -> None:
    proc = _tree(tmp_path, V2_MOUNTINFO, "0::/system.slice/docker-abc.scope\n", {
        "cg/cgroup.controllers": "cpu memory pids\n",
        "cg/system.slice/cpu.max": "max 100000\n",
        "cg/system.slice/memory.max": "1073741824\n",
        "cg/system.slice/docker-abc.scope/cgroup.controllers": "cpu memory\n",
        "cg/system.slice/docker-abc.scope/cgroup.procs": "4242\n",
        "cg/system.slice/docker-abc.scope/cpu.max": "150000 100000\n",
        "cg/system.slice/docker-abc.scope/cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nnr_periods 40\n"
                                                       "nr_throttled 10\nthrottled_usec 900000\n",
        "cg/system.slice/docker-abc.scope/memory.max": "max\n",
        "cg/system.slice/docker-abc.scope/memory.current": "52428800\n",
    })
    cgs = cgroups_of(4242, proc=proc)
    (only,) = cgs.members
    assert only.version == 2 and only.dir == tmp_path / "cg/system.slice/docker-abc.scope"
    assert cgs.holding("cpu") == only and cgs.holding("memory") == only and cgs.holding("cpuset") is None
    assert cgs.cpu_usage() == 2.5 and cgs.cpu_limit() == 1.5 and cgs.cpu_throttling() == (40, 10)
    assert cgs.memory_usage() == 50 << 20 and cgs.memory_limit() == 1 << 30  # the parent's limit applies
    assert only.procs() == [4242] and only.writable() is None
    assert "unified:/system.slice/docker-abc.scope (v2)" in cgs.label()


V1_MOUNTINFO = (
    "32 31 0:29 / @/cg/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / @/cg/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / @/cg/systemd ro,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / @/cg/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


def test_cgroup_v1_hybrid_maps_each_hierarchy_and_reads_v1_accounting(tmp_path: Path) -> None:
    proc = _tree(tmp_path, V1_MOUNTINFO, "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n"
                 "0::/docker/abc\n", {
        "cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
        "cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        "cg/cpu,cpuacct/docker/cpu.cfs_quota_us": "50000\n",
        "cg/cpu,cpuacct/docker/cpu.cfs_period_us": "100000\n",
        "cg/cpu,cpuacct/docker/abc/cpuacct.usage": "1500000000\n",
        "cg/cpu,cpuacct/docker/abc/cpu.stat": "nr_periods 7\nnr_throttled 3\nthrottled_time 12000000\n",
        "cg/cpu,cpuacct/docker/abc/cgroup.procs": "",
        "cg/memory/docker/abc/memory.usage_in_bytes": "1048576\n",
        "cg/memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n",
        "cg/systemd/docker/abc/cgroup.procs": "",
        "cg/unified/docker/abc/cgroup.procs": "",
    })
    cgs = cgroups_of(4242, proc=proc)
    assert [cg.version for cg in cgs.members] == [1, 1, 1, 2]
    cpu = cgs.holding("cpu")
    assert cpu is not None and cpu.controllers == {"cpu", "cpuacct"}
    assert cpu.dir == tmp_path / "cg/cpu,cpuacct/docker/abc"
    assert cgs.cpu_usage() == 1.5 and cgs.cpu_limit() == 0.5  # the parent's quota applies
    assert cgs.cpu_throttling() == (7, 3)
    assert cgs.memory_usage() == 1 << 20 and cgs.memory_limit() is None  # v1's "unlimited"
    systemd = next(cg for cg in cgs.members if "name=systemd" in cg.controllers)
    assert systemd.writable() is not None and "read-only" in str(systemd.writable())


def test_a_process_outside_the_visible_hierarchy_or_gone_is_a_clear_error(tmp_path: Path) -> None:
    mountinfo = "41 31 0:38 /kubepods/pod1 @/cg rw - cgroup2 cgroup2 rw\n"
    proc = _tree(tmp_path, mountinfo, "0::/system.slice/other\n", {"cg/cgroup.controllers": "cpu\n"})
    with pytest.raises(CgroupError, match="none of the cgroups of process 4242 is visible"):
        cgroups_of(4242, proc=proc)
    with pytest.raises(CgroupError, match="no process 999"):
        cgroups_of(999, proc=proc)
    empty = _tree(tmp_path / "bare", "", "0::/\n", {})
    with pytest.raises(CgroupError, match="no cgroup filesystem"):
        cgroups_of(4242, proc=empty)


def test_mountinfo_escapes_and_non_cgroup_lines(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                    "32 31 0:29 / /sys/fs/my\\040cgroups rw - cgroup cgroup rw,cpu,noprefix\n")
    (m,) = mounts(info)
    assert str(m.mountpoint) == "/sys/fs/my cgroups" and m.controllers == {"cpu"} and not m.read_only


def test_a_cgroup_that_cannot_take_the_hog_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from chaoskit.errors import FaultError
    from chaoskit.faults._stress import HogSite, _writable

    ro = V1_MOUNTINFO.replace("@/cg/cpu,cpuacct rw,relatime", "@/cg/cpu,cpuacct ro,relatime")
    proc = _tree(tmp_path, ro, "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n", {
        "cg/cpu,cpuacct/docker/abc/cgroup.procs": "", "cg/memory/docker/abc/cgroup.procs": "",
    })
    site = HogSite("container api (abc)", cgroups_of(4242, proc=proc))
    with pytest.raises(FaultError) as info:
        _writable(site, "stress.cpu")
    text = str(info.value)
    assert "cpu cgroup cpu,cpuacct:/docker/abc (v1) cannot take a process" in text and "read-only" in text
    assert "run as root" in text
    required, optional = _writable(site, "stress.memory")  # memory is writable; cpu then is only optional
    assert required == [str(tmp_path / "cg/memory/docker/abc/cgroup.procs")] and optional == []
    v2 = _tree(tmp_path / "v2", V2_MOUNTINFO, "0::/app\n", {"cg/app/cgroup.controllers": "memory\n",
                                                            "cg/app/cgroup.procs": ""})
    with pytest.raises(Exception, match="no cgroup with the cpu controller"):
        _writable(HogSite("pid 4242", cgroups_of(4242, proc=v2)), "stress.cpu")


def test_revert_stops_the_hog_even_when_the_cpu_observation_fails() -> None:
    """A cgroup file that cannot be parsed must never keep a hog running past its revert."""
    import asyncio
    import subprocess
    import sys

    from chaoskit.faults._stress import CpuMark, StressCpu

    class BrokenCgroups:
        def cpu_usage(self) -> float:
            return 1.0

        def cpu_throttling(self) -> None:
            return None

        def cpu_limit(self) -> float:
            raise ValueError("invalid literal for int() with base 10: 'max 100000 junk'")

    hog = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fault = StressCpu(label="t", tag="unit-test-no-such-hog", args=[], duration=1, margin=1, popen=hog)
        fault.cgroups = BrokenCgroups()  # type: ignore[assignment]
        fault._began = CpuMark(0.0, 0.0, None)
        asyncio.run(fault.revert())
        assert hog.poll() is not None
        assert fault.observations()["cpu_used"].startswith("not read: invalid literal")
    finally:
        hog.kill()
        hog.wait()
