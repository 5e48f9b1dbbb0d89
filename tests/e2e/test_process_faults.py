"""process.stop and process.kill against real processes: targets by pid, pidfile, match and managed name."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.errors import FaultError
from chaoskit.faults.process import _cmdlines
from chaoskit.runner.engine import Runner
from chaoskit.runner.ledger import Ledger
from chaoskit.runner.processes import process_state
from chaoskit.runner.result import Outcome
from tests.unit.runner_helpers import build, fake_plugins

SLEEPER = "import time, sys\nfor _ in range(6000):\n    time.sleep(0.05)\n"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, "chaoskit-test-sleeper"], start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait()


def test_stop_by_pidfile_freezes_then_resumes(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    (tmp_path / "app.pid").write_text(f"{sleeper.pid}\n")
    plugins, _ = fake_plugins()
    states: list[str | None] = []

    def watch(event: str, data: dict[str, object]) -> None:
        if event in ("fault_injected", "fault_reverted"):
            states.append(process_state(sleeper.pid))

    exp = build(plugins, phases={"baseline": 0, "recovery": "1s"},
                faults=[{"name": "freeze", "type": "process.stop", "target": {"pidfile": str(tmp_path / "app.pid")},
                         "duration": "0.3s"}])
    runner = Runner(exp, plugins, state_dir=tmp_path, listeners=[watch])
    result = asyncio.run(runner.run())
    assert states[0] == "T" and states[1] in ("S", "R")
    assert result.faults[0].verified
    assert Ledger(tmp_path).open_entries() == []


def test_kill_by_match_with_restart_none_leaves_it_dead(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "1s"},
                faults=[{"name": "kill", "type": "process.kill", "target": {"match": "chaoskit-test-sleeper"},
                         "params": {"signal": "TERM", "restart": "none"}, "duration": "0.1s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert result.faults[0].verified, result.reason
    assert sleeper.wait(timeout=5) == -signal.SIGTERM


def test_kill_of_a_managed_target_is_restarted_by_chaoskit(tmp_path: Path) -> None:
    plugins, _ = fake_plugins()
    pids: list[int | None] = []
    exp = build(
        plugins,
        target={"processes": [{"name": "web", "command": ["python", "-m", "http.server", "18766", "--bind",
                                                            "127.0.0.1"],
                               "ready": {"http": "http://127.0.0.1:18766/"}}]},
        probes=[{"name": "web", "type": "http", "url": "http://127.0.0.1:18766/", "every": "20ms",
                 "timeout": "200ms"}],
        slos=[{"name": "up", "sli": "success_rate", "objective": ">= 95%", "during": {"objective": ">= 0%"}}],
        phases={"baseline": "4s", "recovery": "10s", "settle": "0.5s"},
        faults=[{"name": "kill-web", "type": "process.kill", "target": {"process": "web"}, "duration": "0.5s"}],
    )
    runner = Runner(exp, plugins, state_dir=tmp_path,
                    listeners=[lambda e, d: pids.append(runner.ctx.processes.get("web").pid)
                               if e in ("fault_injected", "fault_reverted") else None])
    result = asyncio.run(runner.run())
    assert result.outcome is Outcome.PASSED, result.reason
    assert pids[0] != pids[1], "the killed process must have been replaced"
    record = result.faults[0]
    assert record.verified and record.recovered and record.recovery_seconds is not None


def test_kill_with_supervisor_verifies_a_replacement(tmp_path: Path) -> None:
    """A tiny supervisor restarts its child; chaoskit checks a new process with the same command line appears."""
    supervisor = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "for _ in range(20):\n"
         "    subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)', 'supervised-child'])\n"
         "    time.sleep(0.2)\n"],
        start_new_session=True,
    )
    try:
        plugins, _ = fake_plugins()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(cmd.endswith("supervised-child") for _, cmd in _cmdlines()):
            time.sleep(0.05)
        exp = build(plugins, phases={"baseline": 0, "recovery": "5s"},
                    faults=[{"name": "kill", "type": "process.kill", "target": {"match": "supervised-child$"},
                             "params": {"restart": "supervisor"}, "duration": "0.1s"}])
        result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
        assert result.faults[0].verified, result.reason
    finally:
        os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait()


def test_a_target_that_does_not_exist_is_an_error_before_anything_is_touched(tmp_path: Path) -> None:
    plugins, fakes = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "1s"},
                faults=[{"name": "fake-first", "type": "fake", "duration": "0.1s"},
                        {"name": "ghost", "type": "process.stop", "target": {"pid": 4_000_000}, "duration": "1s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert result.outcome is Outcome.ERROR
    assert "no running process with pid 4000000" in result.reason
    assert fakes.events == [], "preflight resolves every target before the first fault"


def test_inline_fault_api_reverts_on_exception(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    import chaoskit

    with pytest.raises(RuntimeError), chaoskit.fault("process.stop", target={"pid": sleeper.pid},
                                                      state_dir=tmp_path):
        assert process_state(sleeper.pid) == "T"
        raise RuntimeError("the test body failed")
    deadline = time.monotonic() + 5
    while process_state(sleeper.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process_state(sleeper.pid) in ("S", "R")
    assert Ledger(tmp_path).open_entries() == []
    with pytest.raises(FaultError, match="unknown fault type"), chaoskit.fault(
        "process.stp", target={"pid": sleeper.pid}, state_dir=tmp_path
    ):
        pass
