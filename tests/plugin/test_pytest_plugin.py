"""The pytest plugin, tested the way pytest tests itself: a real pytest session in a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

# Every session runs in a subprocess, as a user's would: pytester's in-process runs re-import modules such as
# `yaml` whose C extension cannot be re-imported, and share the outer session's signal and event-loop state.

pytest_plugins = ["pytester"]

PASSING = """\
version: 1
title: a noop episode keeps the probe green
probes: [{name: ok, type: python, function: "probe_funcs:ok", every: 5ms}]
slos: [{name: availability, sli: success_rate, objective: ">= 90%"}]
phases: {baseline: 0.5s, recovery: 2s, settle: 0.2s}
faults: [{name: nothing, type: noop, duration: 0.3s}]
"""

FAILING = """\
version: 1
title: a frozen dependency breaks availability
probes:
  - {name: dep, type: python, function: "probe_funcs:dependency_alive", args: {pid: "${DEP_PID}"}, every: 5ms}
slos: [{name: availability, sli: success_rate, objective: ">= 99%"}]
phases: {baseline: 1.5s, recovery: 2s, settle: 0.2s}
faults:
  - name: freeze
    type: process.stop
    target:
      pid: ${DEP_PID}
    duration: 1.5s
"""

PROBES = """\
async def ok():
    return True

async def dependency_alive(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "T"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(probe_funcs=PROBES)
    pytester.syspathinsert()
    return pytester


def test_experiments_are_collected_and_pass(project: pytest.Pytester) -> None:
    project.mkdir("experiments")
    (project.path / "experiments" / "steady.yaml").write_text(PASSING)
    result = project.runpytest_subprocess("experiments", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*experiments/steady.yaml::steady PASSED*"])


def test_a_failure_names_slo_phase_value_and_evidence(
    project: pytest.Pytester, sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEP_PID", str(sleeper.pid))
    project.mkdir("experiments")
    (project.path / "experiments" / "frozen.yaml").write_text(FAILING)
    result = project.runpytest_subprocess("experiments")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*FAILED: *SLO availability*freeze*",
        "*SLO availability broke in observe of fault freeze: observed *%, objective >= 99%, evidence * requests*",
    ])


def test_invalid_experiment_is_a_located_failure_not_a_traceback(project: pytest.Pytester) -> None:
    project.mkdir("experiments")
    (project.path / "experiments" / "typo.yaml").write_text(PASSING.replace("phases:", "phasez:"))
    result = project.runpytest_subprocess("experiments")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid experiment:*", "*typo.yaml:5:1 phasez: unknown key*"])
    assert "Traceback" not in result.stdout.str()


def test_glob_is_configurable_and_marker_selects(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nchaoskit_glob = *.chaos.yml\n")
    (project.path / "steady.chaos.yml").write_text(PASSING)
    (project.path / "ignored.yaml").write_text("not: an experiment\n")
    result = project.runpytest_subprocess("-m", "chaoskit", "-v")
    result.assert_outcomes(passed=1)
    deselected = project.runpytest_subprocess("-m", "not chaoskit")
    deselected.assert_outcomes()


def test_experiment_tags_are_markers(project: pytest.Pytester) -> None:
    project.mkdir("experiments")
    local = PASSING.replace("version: 1\n", "version: 1\ntags: [fast]\n")
    (project.path / "experiments" / "local.yaml").write_text(local)
    needs_stack = PASSING.replace("version: 1\n", "version: 1\ntags: [compose, slow-ish, 'not a marker']\n")
    (project.path / "experiments" / "stack.yaml").write_text(needs_stack)
    result = project.runpytest_subprocess("experiments", "-m", "not compose", "--strict-markers", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*experiments/local.yaml::local PASSED*"])
    only = project.runpytest_subprocess("experiments", "-m", "compose and slow-ish", "--co", "-q", "--strict-markers")
    only.stdout.fnmatch_lines(["experiments/stack.yaml::stack", "*1/2 tests collected (1 deselected)*"])


def test_report_dir_collects_reports(project: pytest.Pytester) -> None:
    project.mkdir("experiments")
    (project.path / "experiments" / "steady.yaml").write_text(PASSING)
    result = project.runpytest_subprocess("experiments", "--chaoskit-report-dir", "reports")
    result.assert_outcomes(passed=1)
    assert (project.path / "reports" / "steady.json").read_text().count('"outcome": "passed"') == 1


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        yield proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()


def test_fixture_injects_a_fault_for_a_block(
    pytester: pytest.Pytester, sleeper: subprocess.Popen[bytes]
) -> None:
    pytester.makepyfile(
        test_inline=f"""
        from chaoskit.runner.processes import process_state

        def test_stop(chaoskit):
            with chaoskit.fault("process.stop", target={{"pid": {sleeper.pid}}}) as hit:
                assert process_state({sleeper.pid}) == "T"
                assert hit == ["pid {sleeper.pid}"]
            assert process_state({sleeper.pid}) in ("S", "R")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
