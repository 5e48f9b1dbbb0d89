"""The history: every entry point records its runs; trends and the HTML index over a game day run three times;
recording can be switched off or pointed elsewhere, and a broken database never costs a run its result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaoskit.api import run_experiment
from chaoskit.cli import main
from chaoskit.history.record import RunRecord
from chaoskit.history.store import SqliteHistory, history_url, open_history, redact

from .helpers import write_experiment, write_gameday


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def recorded(state: Path) -> list[RunRecord]:
    history = SqliteHistory(state / "history.sqlite")
    try:
        return history.runs()
    finally:
        history.close()


def test_every_entry_point_records_its_runs(workdir: Path) -> None:
    write_experiment(workdir, "exp.yaml", title="recorded")
    write_experiment(workdir, "item.chaos.yaml", title="as a test")
    state = workdir / "st"
    assert cli("run", "-q", "--state-dir", str(state), "exp.yaml").returncode == 0
    result = run_experiment("exp.yaml", state_dir=state, handle_signals=False)  # in this test: "pytest"
    script = f"import chaoskit; chaoskit.run_experiment('exp.yaml', state_dir={str(state)!r})"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=300, cwd=workdir).returncode == 0
    pytest_run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "item.chaos.yaml",
                                 "--chaoskit-state-dir", str(state), "--rootdir", str(workdir)],
                                capture_output=True, text=True, timeout=300, cwd=workdir)
    assert pytest_run.returncode == 0, pytest_run.stdout + pytest_run.stderr
    write_gameday(workdir, "version: 1\nname: weekly\nexperiments: [exp.yaml]\n")
    assert cli("gameday", "run", "--state-dir", str(state), "gameday.yaml").returncode == 0
    runs = recorded(state)
    assert sorted((r.via, r.experiment, r.gameday) for r in runs) == [
        ("api", "recorded", None), ("cli", "recorded", None), ("gameday", "recorded", "weekly"),
        ("pytest", "as a test", None), ("pytest", "recorded", None)]
    api = next(r for r in runs if r.run_id == result.run_id)
    assert api.run_id == result.run_id and api.outcome == "passed" and api.journal == result.journal
    assert api.duration == pytest.approx(result.duration) and api.ttr is not None and api.recovered is True
    figures = {(v["slo"], v["phase"]) for v in api.verdicts}
    assert ("up", "baseline") in figures and all(v["requests"] > 0 for v in api.verdicts)
    assert all({"status", "objective", "observed", "requests", "errors"} <= set(v) for v in api.verdicts)
    game = next(r for r in runs if r.via == "gameday")
    assert game.gameday_run and game.gameday_run.startswith("weekly-")


def test_a_game_day_run_three_times_shows_its_trend_and_links_every_report(workdir: Path) -> None:
    write_experiment(workdir, "steady.yaml", title="steady")
    write_experiment(workdir, "wobbly.yaml", title="wobbly")
    write_gameday(workdir, """\
        version: 1
        name: weekly
        experiments:
          - steady.yaml
          - parallel: [wobbly.yaml]
    """)
    # "wobbly" probes a flag file of its own: broken on the second game day
    (workdir / "wobbly.yaml").write_text((workdir / "wobbly.yaml").read_text().replace(
        'function: "gd_probe:ok"', 'function: "gd_probe_wobbly:ok"'))
    (workdir / "gd_probe_wobbly.py").write_text(
        "import pathlib\nasync def ok():\n    return pathlib.Path('wobbly.flag').read_text() == 'ok'\n")
    state = workdir / "st"
    codes = []
    for flag in ("ok", "broken", "ok"):
        (workdir / "wobbly.flag").write_text(flag)
        codes.append(cli("gameday", "run", "--state-dir", str(state), "gameday.yaml").returncode)
    assert codes[0] == 0 and codes[1] != 0 and codes[2] == 0

    shown = cli("history", "--state-dir", str(state), "--runs")
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()
             if line.startswith(("steady", "wobbly")) and "%" in line}
    assert re.search(r"\b3\s+3/3 100%\s+\[\s*44%, 100%\]\s+0\.\d+s", lines["steady"])
    assert re.search(r"\b3\s+2/3\s+67%\s+\[\s*21%,\s+94%\]\s+FLAKY", lines["wobbly"])
    assert shown.stdout.count("[weekly]") == 6

    data = json.loads(cli("history", "--state-dir", str(state), "--json").stdout)
    wobbly = next(t for t in data["trends"] if t["experiment"] == "wobbly")
    assert wobbly["outcomes"][1] != "passed" and wobbly["flaky"] is True and wobbly["judged"] == 3
    assert len(next(t for t in data["trends"] if t["experiment"] == "steady")["ttr"]) == 3

    index = workdir / "site" / "index.html"
    assert cli("history", "--state-dir", str(state), "--html", str(index)).returncode == 0
    page = index.read_text()
    links = re.findall(r'<a href="([^"#]+)">report</a>', page)
    assert len(links) == 6, "every run links its report"
    for link in links:
        target = (index.parent / link).resolve()
        assert target.name == "report.html" and target.is_file()
    assert page.count('<span class="flaky">flaky</span>') == 1 and "<svg class=\"ttr\"" in page


def test_history_can_be_switched_off_or_pointed_at_another_database(workdir: Path) -> None:
    write_experiment(workdir, "exp.yaml")
    assert cli("run", "-q", "--state-dir", "st", "exp.yaml", env={"CHAOSKIT_HISTORY": "off"}).returncode == 0
    assert not (workdir / "st" / "history.sqlite").exists()
    other = workdir / "elsewhere" / "h.sqlite"
    assert cli("run", "-q", "--state-dir", "st", "exp.yaml", env={"CHAOSKIT_HISTORY": str(other)}).returncode == 0
    assert len(SqliteHistory(other).runs()) == 1
    shown = cli("history", "--db", f"sqlite:///{other}")
    assert "exp" in shown.stdout and shown.returncode == 0


def test_a_broken_history_never_costs_a_run_its_result(workdir: Path) -> None:
    write_experiment(workdir, "exp.yaml")
    (workdir / "st").mkdir()
    (workdir / "st" / "history.sqlite").mkdir()  # a directory where the database should be
    out = cli("run", "-q", "--state-dir", "st", "exp.yaml")
    assert out.returncode == 0 and "PASSED" in out.stdout
    assert "not recorded in the history" in out.stderr
    bad = cli("run", "-q", "--state-dir", "st", "exp.yaml", env={"CHAOSKIT_HISTORY": "mysql://x@127.0.0.1/db"})
    assert bad.returncode == 0 and "unsupported database URL" in bad.stderr


def test_urls_and_an_empty_history(workdir: Path) -> None:
    assert history_url("st", {}) == f"sqlite:///{(workdir / 'st' / 'history.sqlite').as_posix().lstrip('/')}"
    assert history_url("st", {"CHAOSKIT_HISTORY": "OFF"}) is None
    assert redact("postgresql://chaos:pa55@127.0.0.1:5432/h") == "postgresql://chaos:***@127.0.0.1:5432/h"
    result = CliRunner().invoke(main, ["history", "--state-dir", "nothing-here"])
    assert result.exit_code == 0 and "no history yet" in result.output
    h = open_history(f"sqlite:///{workdir / 'h.sqlite'}")
    row = RunRecord(run_id="a", experiment="e", outcome="passed", reason="", started_at=1.0, finished_at=2.0)
    h.add(row)
    h.add(RunRecord(**{**row.__dict__, "outcome": "failed"}))  # recorded twice: the last one is kept
    assert [r.outcome for r in h.runs()] == ["failed"] and h.experiments() == ["e"]
    h.close()
