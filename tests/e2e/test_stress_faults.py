"""stress.cpu, stress.memory and stress.disk on real processes and real cgroups, read back from cgroup accounting.

A target is a sleeper inside a scratch cgroup limited to 1 CPU (see ``scratch_cgroup.py``); the hog joins it, so
the cgroup's own counters show what the hog does, and the limit must hold it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import _stress
from chaoskit.faults.cgroups import CgroupSet
from chaoskit.runner.engine import Runner
from chaoskit.runner.ledger import Ledger
from chaoskit.runner.result import RunResult
from tests.e2e.scratch_cgroup import ScratchCgroup, Unavailable
from tests.unit.runner_helpers import build, fake_plugins

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="moving processes between cgroups needs root")


@pytest.fixture
def box() -> Iterator[ScratchCgroup]:
    try:
        cg = ScratchCgroup(cpus=1.0, memory=1 << 30, period=10_000)
    except Unavailable as exc:
        pytest.skip(str(exc))
    with cg:
        yield cg


class Sampler:
    """Reads a cgroup's CPU and memory counters every ``every`` seconds on a thread, and stamps runner events."""

    def __init__(self, cgroups: CgroupSet, every: float = 0.05) -> None:
        self.cgroups, self.every = cgroups, every
        self.samples: list[tuple[float, float, int]] = []
        self.events: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            cpu, memory = self.cgroups.cpu_usage(), self.cgroups.memory_usage()
            ended = time.monotonic()
            if ended - began < 0.004:  # a read preempted on a busy machine has no reliable time: drop it
                self.samples.append(((began + ended) / 2, cpu, memory))
            self._stop.wait(self.every)

    def listener(self, event: str, data: dict[str, Any]) -> None:
        self.events.setdefault(event, time.monotonic())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def rate(self, start: float, end: float) -> float:
        """CPU cores used between two times (the samples nearest inside them)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        first, last = inside[0], inside[-1]
        return (last[1] - first[1]) / (last[0] - first[0])

    def memory_at(self, when: float) -> int:
        return min(self.samples, key=lambda s: abs(s[0] - when))[2]


def run(exp_faults: list[dict[str, Any]], state: Path, sampler: Sampler | None = None) -> RunResult:
    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"}, faults=exp_faults)
    runner = Runner(exp, plugins, state_dir=state, listeners=[sampler.listener] if sampler else [])
    return asyncio.run(runner.run())


def test_cpu_hog_of_two_workers_fills_a_one_cpu_cgroup_within_a_second_and_not_beyond(
    tmp_path: Path, box: ScratchCgroup
) -> None:
    sleeper = box.spawn_sleeper()
    fault = {"name": "hog", "type": "stress.cpu", "target": {"pid": sleeper.pid},
             "params": {"workers": 2, "load": "100%"}, "duration": "4s"}
    with Sampler(box.cgroups) as sampler:
        time.sleep(0.5)
        started, throttled = time.monotonic(), box.throttled()
        result = run([fault], tmp_path, sampler)
        time.sleep(0.6)
    assert result.faults[0].verified, result.reason
    injected, reverted = sampler.events["fault_injected"], sampler.events["fault_reverted"]
    idle_before = sampler.rate(started - 0.45, started)
    reached = sampler.rate(injected + 0.5, injected + 1.0)  # the half second that ends 1 s after injection
    windows = [sampler.rate(t, t + 0.5) for t in [injected + 0.5 + 0.25 * i for i in range(11)]]
    after = sampler.rate(reverted + 0.05, reverted + 0.55)
    assert idle_before < 0.05
    assert reached >= 0.9, f"{reached:.2f} CPU 1 s after injection"
    assert min(windows) >= 0.9 and max(windows) <= 1.03, [round(w, 3) for w in windows]  # at the limit, not beyond
    assert box.throttled() - throttled > 100, "the cgroup's own limit held the hog back"
    observed = result.faults[0].observations or {}
    used, _, limit = observed.get("cpu_used", "").partition(" cores of its ")
    assert float(used or 0) >= 0.85 and limit == "1 limit", observed  # what the fault saw, as the sampler did
    assert int(observed["throttled"].split("%")[0]) >= 50, observed
    assert after < 0.05, f"{after:.2f} CPU after revert"
    assert box.pids() == {sleeper.pid}, "only the target is left in its cgroup"
    assert Ledger(tmp_path).open_entries() == []


def test_cpu_hog_at_half_load_uses_half_a_core_per_worker(tmp_path: Path, box: ScratchCgroup) -> None:
    sleeper = box.spawn_sleeper()
    fault = {"name": "half", "type": "stress.cpu", "target": {"pid": sleeper.pid},
             "params": {"workers": 1, "load": "50%"}, "duration": "3s"}
    with Sampler(box.cgroups) as sampler:
        result = run([fault], tmp_path, sampler)
    assert result.faults[0].verified, result.reason
    injected = sampler.events["fault_injected"]
    achieved = sampler.rate(injected + 0.5, injected + 2.9)
    assert 0.45 <= achieved <= 0.55, f"{achieved:.3f} CPU for 50% of one core"


def test_memory_hog_of_200_mb_raises_the_cgroup_usage_by_200_mb(tmp_path: Path, box: ScratchCgroup) -> None:
    sleeper = box.spawn_sleeper()
    fault = {"name": "mem", "type": "stress.memory", "target": {"pid": sleeper.pid},
             "params": {"size": "200MB"}, "duration": "1.5s"}
    with Sampler(box.cgroups) as sampler:
        time.sleep(0.3)
        result = run([fault], tmp_path, sampler)
        time.sleep(0.3)
    assert result.faults[0].verified, result.reason
    injected, reverted = sampler.events["fault_injected"], sampler.events["fault_reverted"]
    before, during = sampler.memory_at(injected - 0.2), sampler.memory_at(injected + 0.5)
    after = sampler.memory_at(reverted + 0.25)
    assert during - before == pytest.approx(200e6, rel=0.05), f"+{(during - before) / 1e6:.1f} MB"
    assert after - before < 10e6, f"{(after - before) / 1e6:.1f} MB left after revert"
    assert box.pids() == {sleeper.pid}


def test_memory_as_a_share_of_the_target_limit(tmp_path: Path) -> None:
    try:
        cg = ScratchCgroup(memory=400 << 20)
    except Unavailable as exc:
        pytest.skip(str(exc))
    with cg:
        sleeper = cg.spawn_sleeper()
        (site,) = _stress.resolve_sites(_target(pid=sleeper.pid), None)
        from chaoskit.faults.stress import parse_amount

        assert _stress.memory_bytes(parse_amount("25%"), site) == 100 << 20


def test_disk_fill_takes_the_space_and_gives_it_back(tmp_path: Path) -> None:
    fault = {"name": "fill", "type": "stress.disk", "target": {"host": True},
             "params": {"size": "100MB", "path": str(tmp_path)}, "duration": "1s"}
    held: list[int] = []
    free: list[int] = []

    def watch(event: str, data: dict[str, Any]) -> None:
        if event in ("fault_injected", "fault_reverted"):
            st = os.statvfs(tmp_path)
            free.append(st.f_bavail * st.f_frsize)
        if event == "fault_injected":  # the blocks of the files the hog holds open
            for pid in _stress.hog_pids(_tag_of(tmp_path)):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.stat(f"/proc/{pid}/fd/{fd}").st_dev == os.stat(tmp_path).st_dev:
                            held.append(os.stat(f"/proc/{pid}/fd/{fd}").st_blocks * 512)

    plugins, _ = fake_plugins()
    st = os.statvfs(tmp_path)
    before = st.f_bavail * st.f_frsize
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"}, faults=[fault])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path / "state", listeners=[watch]).run())
    assert result.faults[0].verified, result.reason
    assert held and max(held) >= 100e6, held
    # other tests write to the same disk meanwhile: loose bounds, but a fill that never happened is far outside them
    assert before - free[0] >= 50e6, f"{(before - free[0]) / 1e6:.0f} MB taken"
    assert free[1] - free[0] >= 50e6, f"{(free[1] - free[0]) / 1e6:.0f} MB given back"
    assert os.listdir(tmp_path) == ["state"], "the fill file never had a name"


def _tag_of(state: Path) -> str:
    """The hog tag of the one open ledger entry under ``state``."""
    (entry,) = Ledger(state / "state").open_entries()
    return str(entry.undo["tag"])


def test_host_hog_and_a_managed_target_process(tmp_path: Path) -> None:
    plugins, _ = fake_plugins()
    exp = build(
        plugins,
        target={"processes": [{"name": "idle", "command": ["python", "-c", "import time; time.sleep(60)"]}]},
        phases={"baseline": 0, "recovery": "0s"},
        faults=[
            {"name": "host", "type": "stress.cpu", "target": {"host": True}, "params": {"load": "20%"},
             "duration": "0.5s"},
            {"name": "proc", "type": "stress.memory", "target": {"process": "idle"}, "params": {"size": "10MB"},
             "duration": "0.5s"},
        ],
    )
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert [f.verified for f in result.faults] == [True, True], result.reason
    assert result.faults[0].target.startswith("host: 1 worker(s) at 20%")
    assert "process idle (pid" in result.faults[1].target and "cgroup" in result.faults[1].target
    assert Ledger(tmp_path).open_entries() == []


def test_a_memory_hog_beyond_the_limit_is_the_oom_victim_not_the_target(tmp_path: Path, box: ScratchCgroup) -> None:
    sleeper = box.spawn_sleeper()
    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"},
                faults=[{"name": "big", "type": "stress.memory", "target": {"pid": sleeper.pid},
                         "params": {"size": "8GB", "oom_score_adj": 1000}, "duration": "5s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    # 8 GB in a 1 GiB cgroup: the OOM killer takes the hog (its score is 1000), never the target
    assert result.outcome.name == "ERROR", result.reason
    assert "ended by signal SIGKILL (the OOM killer" in result.reason, result.reason
    assert sleeper.poll() is None, "the target survived"
    assert box.pids() == {sleeper.pid}
    assert Ledger(tmp_path).open_entries() == []


def _target(**kw: Any) -> Any:
    from chaoskit.faults.stress import StressTarget

    return StressTarget(**kw)
