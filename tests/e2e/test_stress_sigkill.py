"""A hog never outlives its welcome: SIGKILL of the runner during a hog, with no `chaoskit recover`, leaves nothing
running within the hog's margin; and the hog's own deadline holds even when nobody tells it anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaoskit.faults import _stress
from chaoskit.runner.ledger import Ledger
from tests.e2e.scratch_cgroup import ScratchCgroup, Unavailable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="moving processes between cgroups needs root")


@pytest.fixture
def box() -> Iterator[ScratchCgroup]:
    try:
        cg = ScratchCgroup(cpus=1.0, memory=1 << 30)
    except Unavailable as exc:
        pytest.skip(str(exc))
    with cg:
        yield cg


def wait_for(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``predicate`` held, or None after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(0.02)
    return None


def _states(pids: set[int]) -> dict[int, str]:
    """pid -> state letter and command line, for a failure message."""
    out = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80]
        except OSError:
            stat, cmd = "gone", ""
        out[pid] = f"{stat} {cmd}"
    return out


def chaoskit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_sigkilled_runner_leaves_no_hog_behind_within_its_margin(tmp_path: Path, box: ScratchCgroup) -> None:
    sleeper = box.spawn_sleeper()
    experiment = tmp_path / "hog.yaml"
    experiment.write_text(
        "version: 1\ntitle: hog, then die\nphases: {baseline: 0s, recovery: 1s}\n"
        f"faults:\n  - {{name: hog, type: stress.cpu, target: {{pid: {sleeper.pid}}}, duration: 10m,\n"
        "      params: {workers: 2, load: 100%, margin: 5s}}\n"
    )
    state = tmp_path / "state"
    runner = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", "--quiet", "--state-dir", str(state), str(experiment)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: len(box.pids()) == 4, 30) is not None, "the hog (supervisor + 2 workers) never joined"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    (entry,) = Ledger(state).open_entries()  # the runner had no chance to close it
    # gone: no process with the hog's tag anywhere, and nothing but the target in its cgroup (an exited hog leaves
    # the cgroup once its new parent, init, has reaped it)
    gone = wait_for(lambda: not _stress.hog_pids(str(entry.undo["tag"])) and box.pids() == {sleeper.pid}, 5.0)
    assert gone is not None, f"the hog outlived its margin: {_states(box.pids() - {sleeper.pid})}"
    # the ledger still offers the revert, and it is a verified no-op
    out = chaoskit("recover", "--state-dir", str(state), cwd=tmp_path)
    assert out.returncode == 0 and "reverted: stress.cpu hog" in out.stdout, out.stdout + out.stderr


def _hog(*extra: str, box: ScratchCgroup) -> subprocess.Popen[bytes]:
    tag = f"chaoskit-test-{os.getpid()}-{time.monotonic_ns()}"
    cpu = box.cgroups.holding("cpu")
    assert cpu is not None
    proc = subprocess.Popen([sys.executable, "-m", "chaoskit.faults.hog", "cpu", "--tag", tag, "--join",
                             str(cpu.procs_file), *extra], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"ready ")
    return proc


def test_the_hog_ends_at_duration_plus_margin_by_itself(box: ScratchCgroup) -> None:
    began = time.monotonic()
    proc = _hog("--workers", "2", "--load", "0.3", "--duration", "1", "--margin", "1", box=box)
    try:
        assert len(box.pids()) == 3
        assert proc.wait(timeout=10) == 0
        took = time.monotonic() - began
        assert 1.9 <= took <= 3.0, f"ended after {took:.2f}s"
        assert wait_for(lambda: not box.pids(), 1.0) is not None, "a worker outlived its supervisor"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_end_when_their_supervisor_is_sigkilled(box: ScratchCgroup) -> None:
    proc = _hog("--workers", "2", "--duration", "60", box=box)
    assert len(box.pids()) == 3
    proc.kill()
    proc.wait()
    took = wait_for(lambda: not box.pids(), 2.0)
    assert took is not None, "workers kept running without their supervisor"


def test_the_hog_ends_when_the_process_it_watches_is_gone(box: ScratchCgroup) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stat = Path(f"/proc/{watched.pid}/stat").read_text().rsplit(")", 1)[-1].split()
    proc = _hog("--duration", "60", "--watch", f"{watched.pid}:{stat[19]}", box=box)
    try:
        watched.kill()
        watched.wait()
        assert proc.wait(timeout=2) == 0
        assert wait_for(lambda: not box.pids(), 1.0) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
