"""Every format is reachable: ``chaoskit report``, ``chaoskit run --report FORMAT:PATH`` and pytest's
``--chaoskit-report-dir``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaoskit.cli import main as cli
from chaoskit.commands.run import _write_reports
from chaoskit.plugins import hookimpl, plugin_manager
from chaoskit.registry import Registry, ReporterKind
from chaoskit.runner.result import RunResult
from tests.report.report_journal import FaultPlan, SyntheticRun

pytest_plugins = ["pytester"]

FAST = """\
version: 1
title: a noop episode keeps the probe green
probes: [{name: ok, type: python, function: "report_probe_funcs:ok", every: 5ms}]
slos: [{name: availability, sli: success_rate, objective: ">= 90%"}]
phases: {baseline: 0.5s, recovery: 2s, settle: 0.2s}
faults: [{name: nothing, type: noop, duration: 0.3s}]
"""
PROBES = "def ok():\n    return True\n"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    SyntheticRun(seconds=30.0, faults=(FaultPlan("store-latency", 12.0, 8.0),)).write(tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize(("fmt", "check"), [
    ("html", lambda text: text.startswith("<!DOCTYPE html>") and 'id="verdicts"' in text),
    ("md", lambda text: text.startswith("### ✅ PASSED") and "| SLO |" in text),
    ("junit", lambda text: ET.fromstring(text.split("\n", 1)[1]).tag == "testsuites"),
    ("json", lambda text: json.loads(text)["outcome"] == "passed"),
])
def test_chaoskit_report_writes_each_format(run_dir: Path, tmp_path: Path, fmt: str, check: Any) -> None:
    out = tmp_path / "out" / f"report.{fmt}"
    result = CliRunner().invoke(cli, ["report", str(run_dir / "journal.jsonl"), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert check(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "marker"), [
    ("r.html", "<!DOCTYPE html>"), ("r.junit.xml", "<testsuites"), ("r.md", "### "), ("r.json", '"run_id"'),
    ("r.txt", "PASSED: "), ("r.unknown", "PASSED: "),
])
def test_chaoskit_report_takes_the_format_from_the_output_name(run_dir: Path, tmp_path: Path, name: str,
                                                               marker: str) -> None:
    result = CliRunner().invoke(cli, ["report", str(run_dir), "-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert marker in (tmp_path / name).read_text(encoding="utf-8")


def test_chaoskit_run_writes_the_reports_it_is_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "report_probe_funcs.py").write_text(PROBES)
    (tmp_path / "fast.yaml").write_text(FAST)
    monkeypatch.chdir(tmp_path)
    args = ["run", "fast.yaml", "--state-dir", "state", "-q"]
    for fmt, name in (("html", "out/run.html"), ("md", "out/run.md"), ("junit", "out/run.xml")):
        args += ["--report", f"{fmt}:{name}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out/run.html").read_text(encoding="utf-8")
    assert "a noop episode keeps the probe green" in html and "nothing" in html and "vegaEmbed(" in html
    assert "| availability | during nothing |" in (tmp_path / "out/run.md").read_text(encoding="utf-8")
    junit = ET.parse(tmp_path / "out/run.xml").getroot()
    names = [c.get("name") for c in junit.iter("testcase")]
    assert names[:2] == ["availability in baseline", "availability during nothing"]
    assert names[-1] == "recovery after nothing"  # (a judge may add "availability after nothing" before it)


def test_a_broken_reporter_does_not_cost_the_run_its_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Broken:
        @hookimpl
        def chaoskit_register_reporters(self, register: Registry) -> None:
            def render(result: RunResult, events: list[dict[str, Any]]) -> str:
                raise RuntimeError("no ink")

            register.add_reporter(ReporterKind("broken", ".x", render))

    plugins = plugin_manager(extra=[Broken()], entry_points_enabled=False)
    result = SyntheticRun(seconds=5.0, faults=()).result()
    _write_reports(result, [("broken", tmp_path / "a.x"), ("md", tmp_path / "a.md")], plugins)
    err = capsys.readouterr().err
    assert f"report broken to {tmp_path / 'a.x'} failed: RuntimeError: no ink" in err
    assert (tmp_path / "a.md").exists() and not (tmp_path / "a.x").exists()


def test_pytest_writes_every_format_per_item_and_attaches_the_paths(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(report_probe_funcs=PROBES)
    pytester.syspathinsert()
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "steady.yaml").write_text(FAST)
    result = pytester.runpytest("experiments", "--chaoskit-report-dir", "reports", "--junitxml", "pytest.xml")
    result.assert_outcomes(passed=1)
    reports = pytester.path / "reports"
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["steady.html", "steady.json", "steady.junit.xml", "steady.md", "steady.txt"]
    result.stdout.fnmatch_lines([
        "*chaoskit reports*",
        "experiments/steady.yaml::steady:",
        f"  html * {reports / 'steady.html'}",
        f"  junit * {reports / 'steady.junit.xml'}",
        f"  md * {reports / 'steady.md'}",
    ])
    case = ET.parse(pytester.path / "pytest.xml").getroot().find(".//testcase")
    assert case is not None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["chaoskit_report_html"] == str(reports / "steady.html")
    assert properties["chaoskit_outcome"] == "passed"
