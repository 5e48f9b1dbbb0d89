"""The command probe runs real processes: exit codes, output, shell opt-in, and killing on timeout."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from chaoskit.errors import ProbeError
from chaoskit.probes.command import CommandProbe, CommandProbeSpec
from chaoskit.registry import Observation

PY = sys.executable


def observe(probe: CommandProbe) -> Observation:
    return asyncio.run(probe.observe())


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_exit_zero_is_ok() -> None:
    obs = observe(CommandProbe([PY, "-c", "print('fine')"], timeout=30))
    assert obs.ok and obs.detail == "exit 0"


def test_wrong_exit_code_fails_with_the_last_stderr_line() -> None:
    obs = observe(CommandProbe([PY, "-c", "import sys; sys.exit('store is down')"], timeout=30))
    assert not obs.ok and obs.detail == "exit 1 (expected 0): store is down"
    assert observe(CommandProbe([PY, "-c", "raise SystemExit(3)"], exit_code=3, timeout=30)).ok


def test_stdout_contains() -> None:
    assert observe(CommandProbe([PY, "-c", "print('status: green')"], stdout_contains="green", timeout=30)).ok
    obs = observe(CommandProbe([PY, "-c", "print('status: red')"], stdout_contains="green", timeout=30))
    assert not obs.ok and obs.detail == "exit 0, stdout lacks 'green'"


def test_argv_is_not_a_shell() -> None:
    obs = observe(CommandProbe(["echo", "$HOME", "&&", "false"], stdout_contains="$HOME && false", timeout=30))
    assert obs.ok, obs.detail


def test_shell_is_explicit() -> None:
    assert observe(CommandProbe("echo one two | grep -q two", shell=True, timeout=30)).ok
    with pytest.raises(ProbeError, match="shell=True"):
        CommandProbe("echo one", timeout=30)


def test_env_and_cwd(tmp_path: Path) -> None:
    script = "import os; print(os.environ['PROBE_FLAVOUR'], os.getcwd())"
    expected = f"mint {tmp_path.resolve()}"
    probe = CommandProbe(
        [PY, "-c", script],
        env={"PROBE_FLAVOUR": "mint"},
        cwd=str(tmp_path),
        stdout_contains=expected,
        timeout=30,
    )
    assert observe(probe).ok


def test_missing_program_is_a_failed_observation() -> None:
    obs = observe(CommandProbe(["/nonexistent/chaoskit-probe"], timeout=30))
    assert not obs.ok and obs.detail == "cannot run '/nonexistent/chaoskit-probe': not found"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The child starts a grandchild, records both PIDs, and both would sleep for a minute.
    script = (
        "import os, subprocess, sys, time\n"
        f"g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}')\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    obs = observe(CommandProbe([PY, "-c", script], timeout=2.0))
    assert time.monotonic() - started < 20
    assert not obs.ok and obs.detail == "timed out after 2s (killed)"
    child, grandchild = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 10
    while (alive(child) or alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child) and not alive(grandchild)


def test_cancelling_the_probe_kills_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    async def run() -> None:
        task = asyncio.create_task(CommandProbe([PY, "-c", script], timeout=60).observe())
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_killed_by_a_signal() -> None:
    obs = observe(CommandProbe([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], timeout=30))
    assert not obs.ok and obs.detail.startswith("killed by SIGTERM")


# ----------------------------------------------------------------------------------------------- the spec

spec_adapter = TypeAdapter(CommandProbeSpec)


def test_spec_string_needs_shell() -> None:
    with pytest.raises(ValidationError, match="argv list"):
        spec_adapter.validate_python({"name": "c", "type": "command", "command": "curl -sf http://127.0.0.1/"})
    with pytest.raises(ValidationError, match="as one string"):
        spec_adapter.validate_python({"name": "c", "type": "command", "command": ["true"], "shell": True})
    with pytest.raises(ValidationError, match="empty"):
        spec_adapter.validate_python({"name": "c", "type": "command", "command": []})


def test_spec_unknown_program_is_a_probe_error() -> None:
    spec = spec_adapter.validate_python({"name": "c", "type": "command", "command": ["no-such-program-xyz"]})
    with pytest.raises(ProbeError, match="'no-such-program-xyz' is not on PATH") as info:
        CommandProbe.from_spec(spec)
    assert info.value.probe == "c"


def test_spec_builds_a_shell_probe() -> None:
    spec = spec_adapter.validate_python(
        {"name": "c", "type": "command", "command": "exit 4", "shell": True, "exit_code": 4, "timeout": "10s"}
    )
    probe = CommandProbe.from_spec(spec)
    assert probe.argv == ["/bin/sh", "-c", "exit 4"] and probe.timeout == 10.0
    assert observe(probe).ok
    assert os.path.exists("/bin/sh")
