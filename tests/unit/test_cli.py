"""The command line: exit codes per outcome, --json, --report, plan, plugins, the live view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.cli import main

PROBE_MODULE = "async def ok():\n    return True\n"

PASSING = """\
version: 1
title: passes
probes: [{name: ok, type: python, function: "ck_probe_mod:ok", every: 2ms}]
slos: [{name: up, sli: success_rate, objective: ">= 90%"}]
phases: {baseline: 0.4s, recovery: 1s, settle: 0.1s}
faults: [{name: nothing, type: noop, duration: 0.3s}]
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ck_probe_mod.py").write_text(PROBE_MODULE)
    (tmp_path / "pass.yaml").write_text(PASSING)
    (tmp_path / "noslo.yaml").write_text("version: 1\ntitle: nothing judged\nphases: {baseline: 0s}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help_list_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "validate", "plan", "schema", "plugins", "recover", "report", "proxy"):
        assert f"  {command} " in result.output
    assert CliRunner().invoke(main, ["--version"]).output.startswith("chaoskit, version ")


def test_run_exit_codes_follow_the_outcome(workdir: Path) -> None:
    assert cli("run", "--quiet", "pass.yaml").returncode == 0
    inconclusive = cli("run", "--quiet", "noslo.yaml")
    assert inconclusive.returncode == 4 and "INCONCLUSIVE" in inconclusive.stdout
    (workdir / "bad.yaml").write_text("version: 1\ntitel: x\n")
    invalid = cli("run", "bad.yaml")
    assert invalid.returncode == 2 and "bad.yaml:2:1 titel: unknown key 'titel'" in invalid.stderr
    both = cli("run", "--quiet", "pass.yaml", "noslo.yaml")
    assert both.returncode == 4, "several experiments exit with the most serious outcome"


def test_run_json_and_reports(workdir: Path) -> None:
    out = cli("run", "--json", "--report", "json:out/result.json", "--report", "text:out/result.txt", "pass.yaml")
    assert out.returncode == 0, out.stderr
    [result] = json.loads(out.stdout)
    assert result["outcome"] == "passed" and result["verdicts"][0]["evidence"]["requests"] > 0
    assert json.loads((workdir / "out" / "result.json").read_text())["run_id"] == result["run_id"]
    assert "PASSED: passes" in (workdir / "out" / "result.txt").read_text()
    report = cli("report", str(Path(result["journal"]).parent), "--format", "text")
    assert report.returncode == 0 and "PASSED: passes" in report.stdout


def test_unknown_report_format_is_a_usage_error(workdir: Path) -> None:
    out = cli("run", "--report", "pdf:x.pdf", "pass.yaml")
    assert out.returncode == 2 and "unknown report format 'pdf'" in out.stderr and "Traceback" not in out.stderr


def test_plan_shows_the_timeline_and_touches_nothing(workdir: Path) -> None:
    out = cli("plan", "pass.yaml")
    assert out.returncode == 0
    assert "inject nothing (noop) for 0.3s" in out.stdout and "hits nothing" not in out.stdout
    assert not (workdir / ".chaoskit").exists()


def test_plugins_lists_kinds_with_their_origin() -> None:
    out = cli("plugins")
    assert out.returncode == 0
    assert "process.stop" in out.stdout and "[chaoskit.faults.process]" in out.stdout


def test_live_view_renders_phase_slis_and_faults(tmp_path: Path) -> None:
    import asyncio

    from rich.console import Console

    from chaoskit.report.live import LiveView
    from chaoskit.runner.engine import Runner
    from tests.unit.runner_helpers import AVAILABILITY, PROBE, build, fake_plugins

    plugins, _ = fake_plugins()
    exp = build(plugins, probes=[PROBE], slos=[AVAILABILITY], phases={"baseline": "0.2s", "recovery": "1s"},
                faults=[{"name": "f", "type": "fake", "duration": "0.2s"}])
    frames: list[str] = []
    runner = Runner(exp, plugins, state_dir=tmp_path)
    view = LiveView(runner)

    def snap(event: str, data: dict[str, object]) -> None:
        if event == "fault_injected":
            console = Console(width=120, record=True)
            console.print(view)
            frames.append(console.export_text())

    runner.listeners.append(snap)
    asyncio.run(runner.run())
    [frame] = frames
    assert "phase inject (f)" in frame and "active faults: f on fake f" in frame and "availability" in frame
