"""The real cgroup2 hierarchy of a hybrid machine (v1 controllers + a unified v2 mount, as Docker hosts on cgroup v1
have at /sys/fs/cgroup/unified): found, joined by the hog, and its accounting read back.

On a hybrid machine the v2 hierarchy holds no cpu or memory controller (they are bound to v1), so it cannot show a
v2 limit at work: what this proves is that chaoskit maps a process's ``0::/path`` line onto the real mount, that a hog
joins that v2 cgroup too (a revert leaves no hog PID in it), and that the v2 ``cpu.stat`` it reads (``usage_usec``,
which the kernel keeps in every v2 cgroup) agrees with v1's ``cpuacct.usage`` for the same processes. A pure v2
machine runs ``test_stress_faults.py`` on v2 instead (``scratch_cgroup.py`` makes its cgroups there).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import _stress
from chaoskit.faults.cgroups import CgroupSet, cgroups_of, mounts
from chaoskit.runner.engine import Runner
from chaoskit.runner.ledger import Ledger
from tests.e2e.scratch_cgroup import ScratchCgroup, Unavailable
from tests.unit.runner_helpers import build, fake_plugins

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="moving processes between cgroups needs root")


@pytest.fixture
def unified() -> Iterator[tuple[ScratchCgroup, Path]]:
    """A v1 scratch cgroup (1 CPU, high weight) and a v2 cgroup made in the hybrid machine's unified hierarchy."""
    known = mounts()
    v2 = next((m for m in known if m.version == 2 and not m.read_only), None)
    if v2 is None or not any(m.version == 1 and "cpu" in m.controllers for m in known):
        pytest.skip("not a hybrid cgroup machine (v1 controllers and a writable cgroup2 mount)")
    try:
        box = ScratchCgroup(cpus=1.0, period=10_000)
    except Unavailable as exc:
        pytest.skip(str(exc))
    child = v2.mountpoint / f"chaoskit-test-{uuid.uuid4().hex[:8]}"
    with box:
        child.mkdir()
        try:
            yield box, child
        finally:
            box.close()  # kills the sleeper, which is in both
            for _ in range(100):
                try:
                    child.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def test_a_hog_joins_the_real_v2_cgroup_and_v2_accounting_matches_v1(
    tmp_path: Path, unified: tuple[ScratchCgroup, Path]
) -> None:
    box, child = unified
    sleeper = box.spawn_sleeper()
    (child / "cgroup.procs").write_text(str(sleeper.pid))
    found = cgroups_of(sleeper.pid)
    v2 = next(cg for cg in found.members if cg.version == 2)
    assert v2.dir == child and v2.writable() is None
    cpu = found.holding("cpu")
    assert cpu is not None and cpu.version == 1, "on a hybrid machine v1 holds the cpu controller"
    v2_only, v1_box = CgroupSet((v2,)), box.cgroups

    in_v2: list[int] = []

    def watch(event: str, data: dict[str, Any]) -> None:
        if event == "fault_injected":
            (entry,) = Ledger(tmp_path).open_entries()
            in_v2.extend(_stress.hog_pids(str(entry.undo["tag"]), [str(v2.procs_file)]))

    fault = {"name": "hog", "type": "stress.cpu", "target": {"pid": sleeper.pid},
             "params": {"workers": 1, "load": "100%"}, "duration": "2s"}
    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"}, faults=[fault])
    before = (v2_only.cpu_usage(), v1_box.cpu_usage())
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path, listeners=[watch]).run())
    after = (v2_only.cpu_usage(), v1_box.cpu_usage())

    assert result.faults[0].verified, result.reason
    assert len(in_v2) == 2, f"the hog and its worker were in the v2 cgroup: {in_v2}"
    used_v2, used_v1 = after[0] - before[0], after[1] - before[1]
    assert used_v1 >= 1.0, f"{used_v1:.2f} CPU seconds for a 2 s hog at 100%"
    assert used_v2 == pytest.approx(used_v1, rel=0.03, abs=0.02), (used_v2, used_v1)
    assert set(map(int, (child / "cgroup.procs").read_text().split())) == {sleeper.pid}, "no hog PID is left"
