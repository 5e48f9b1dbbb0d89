"""The ledger's promise: SIGKILL the runner while a process.stop fault is active, then `chaoskit recover`
brings the target back, and a second recover finds nothing to do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.runner.processes import process_state

SLEEPER = "import time\nfor _ in range(6000):\n    time.sleep(0.05)\n"  # exits by itself after ~5 minutes


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        yield proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def chaoskit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_sigkilled_run_leaves_a_stopped_process_that_recover_resumes(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    experiment = tmp_path / "freeze.yaml"
    experiment.write_text(
        "version: 1\n"
        "title: freeze a process, then die\n"
        "phases: {baseline: 0s, recovery: 1s}\n"
        f"faults:\n  - {{name: freeze, type: process.stop, target: {{pid: {victim.pid}}}, duration: 10m}}\n"
    )
    state = tmp_path / "state"
    runner = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", "--quiet", "--state-dir", str(state), str(experiment)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: process_state(victim.pid) == "T"), "the fault was never injected"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    time.sleep(0.2)
    assert process_state(victim.pid) == "T", "SIGKILL gives the runner no chance to revert: still stopped"

    listed = chaoskit("recover", "--list", "--state-dir", str(state), cwd=tmp_path)
    assert "process.stop" in listed.stdout and "1 open ledger entry" in listed.stdout

    first = chaoskit("recover", "--state-dir", str(state), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "reverted: process.stop freeze" in first.stdout
    assert wait_for(lambda: process_state(victim.pid) in ("S", "R"), timeout=5)

    second = chaoskit("recover", "--state-dir", str(state), cwd=tmp_path)
    assert second.returncode == 0 and "nothing to recover" in second.stdout
    assert process_state(victim.pid) in ("S", "R")


def test_sigterm_reverts_before_exiting(tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    experiment = tmp_path / "freeze.yaml"
    experiment.write_text(
        "version: 1\ntitle: freeze, then SIGTERM\nphases: {baseline: 0s, recovery: 1s}\n"
        f"faults:\n  - {{name: freeze, type: process.stop, target: {{pid: {victim.pid}}}, duration: 10m}}\n"
    )
    state = tmp_path / "state"
    runner = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", "--quiet", "--state-dir", str(state), str(experiment)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert wait_for(lambda: process_state(victim.pid) == "T")
    runner.send_signal(signal.SIGTERM)
    out, _ = runner.communicate(timeout=60)
    assert runner.returncode == 130, out
    assert "INTERRUPTED" in out
    assert process_state(victim.pid) in ("S", "R")
    assert "nothing to recover" in chaoskit("recover", "--state-dir", str(state), cwd=tmp_path).stdout
