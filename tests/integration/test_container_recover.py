"""The ledger's promise for containers: SIGKILL the runner while a container.pause or container.partition is
active, then `chaoskit recover` leaves the container running, unpaused, with no chaoskit iptables rules; a second
recover finds nothing to do."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import _docker
from tests.integration.compose import Stack

pytestmark = pytest.mark.slow


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def chaoskit(*args: str, stack: Stack, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], cwd=cwd, env=stack.run_env(),
                          capture_output=True, text=True, timeout=120)


def sigkill_during(fault_yaml: str, injected: Callable[[], bool], stack: Stack, tmp_path: Path) -> Path:
    """Run a one-fault experiment (10 minutes long), SIGKILL the runner once ``injected()``; the state dir."""
    experiment = tmp_path / "fault.yaml"
    experiment.write_text(f"version: 1\ntitle: inject, then die\nphases: {{baseline: 0s, recovery: 1s}}\n"
                          f"faults:\n  - {fault_yaml}\n")
    state = tmp_path / "state"
    runner = subprocess.Popen([sys.executable, "-m", "chaoskit", "run", "--quiet", "--state-dir", str(state),
                               str(experiment)], cwd=tmp_path, env=stack.run_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        assert wait_for(injected), "the fault was never injected"
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    return state


def recover_twice(kind: str, stack: Stack, state: Path, tmp_path: Path) -> None:
    listed = chaoskit("recover", "--list", "--state-dir", str(state), stack=stack, cwd=tmp_path)
    assert kind in listed.stdout and "1 open ledger entry" in listed.stdout, listed.stdout
    first = chaoskit("recover", "--state-dir", str(state), stack=stack, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"reverted: {kind} " in first.stdout
    second = chaoskit("recover", "--state-dir", str(state), stack=stack, cwd=tmp_path)
    assert second.returncode == 0 and "nothing to recover" in second.stdout


def test_sigkilled_run_leaves_a_paused_container_that_recover_unpauses(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    [store] = stack.containers(docker_client, "store")

    def paused() -> bool:
        store.reload()
        return bool(store.attrs["State"]["Paused"])

    state = sigkill_during(f"{{name: freeze, type: container.pause, target: {{name: {store.name}}}, duration: 10m}}",
                           paused, stack, tmp_path)
    time.sleep(0.5)
    assert paused(), "SIGKILL gives the runner no chance to revert: still paused"

    recover_twice("container.pause", stack, state, tmp_path)

    store.reload()
    assert store.attrs["State"]["Running"] and not store.attrs["State"]["Paused"]
    assert _docker.residue(docker_client, store.id, store.attrs["Image"], check_rules=True) == []


def test_sigkilled_run_leaves_a_partition_that_recover_removes(
    stack: Stack, docker_client: Any, tmp_path: Path
) -> None:
    [store] = stack.containers(docker_client, "store")
    pid = store.attrs["State"]["Pid"]

    state = sigkill_during(
        f"{{name: cut, type: container.partition, target: {{compose: {{project: {stack.project}, service: store}}}}, "
        "params: {peers: [proxy]}, duration: 10m}", lambda: bool(_docker.rules(pid)), stack, tmp_path)
    time.sleep(0.5)
    left = _docker.rules(pid)
    assert len(left) == 2 and all("chaoskit.run=" in r for r in left), left

    recover_twice("container.partition", stack, state, tmp_path)

    store.reload()
    assert store.attrs["State"]["Pid"] == pid and store.attrs["State"]["Running"]
    assert _docker.rules(pid) == []
    assert _docker.residue(docker_client, store.id, store.attrs["Image"], check_rules=True) == []
