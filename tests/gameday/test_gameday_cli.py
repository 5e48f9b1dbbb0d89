"""The game-day file and ``chaoskit gameday``: located errors, plan, run, and schedule's refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaoskit.cli import main
from chaoskit.errors import GameDayError
from chaoskit.gameday.loader import load_gameday, load_gameday_text

from .helpers import write_experiment, write_gameday


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], capture_output=True, text=True, timeout=300)


def errors_of(path: Path) -> list[str]:
    try:
        load_gameday(path)
    except GameDayError as exc:
        return [str(d) for d in exc.diagnostics]
    raise AssertionError("expected errors")


def test_every_error_of_a_game_day_file_is_located(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml")
    path = write_gameday(workdir, """\
        version: 1
        name: bad name
        experiments:
          - a.yaml
          - parallel: [missing.yaml, "nothing-*.yaml"]
        variables: {GOOD: 1, 9bad: x}
        schedule: {cron: "61 * * * *", timezone: Mars/Olympus}
        concurency: queue
        deadline: soon
        notify: {webhook: "ftp://example", when: sometimes}
    """)
    assert errors_of(path) == [
        f"{path}:2:7 name: expected a name of letters, digits, '.', '_' and '-', got 'bad name' (start with a "
        "letter or digit; no spaces)",
        f"{path}:6:12 variables: variable names are letters, digits and _ (not starting with a digit), got '9bad'",
        f"{path}:7:18 schedule.cron: invalid cron expression '61 * * * *': Bad minute",
        f"{path}:7:42 schedule.timezone: unknown time zone 'Mars/Olympus' (an IANA name such as Europe/Berlin or UTC)",
        f"{path}:8:1 concurency: unknown key 'concurency' (did you mean 'concurrency'?)",
        f"{path}:9:11 deadline: expected a duration such as 500ms, 5s or 2m, got 'soon'",
        f"{path}:10:19 notify.webhook.url: expected an http:// or https:// URL, got 'ftp://example'",
        f"{path}:10:42 notify.when: expected 'always' or 'failure', got 'sometimes'",
    ]
    fixed = path.read_text().replace("bad name", "ok").replace("9bad", "B").replace("61", "1").replace(
        "Mars/Olympus", "UTC").replace("concurency", "concurrency").replace("soon", "1h").replace(
        "ftp://example", "http://127.0.0.1:9/x").replace("sometimes", "failure")
    path.write_text(fixed)
    assert errors_of(path) == [
        f"{path}:5:16 experiments[1].parallel[0]: no such experiment file 'missing.yaml' (paths are taken from "
        f"{workdir})",
        f"{path}:5:30 experiments[1].parallel[1]: no experiment file matches 'nothing-*.yaml' (globs are taken "
        f"from {workdir})",
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_text_loads_or_gives_located_errors(workdir: Path, text: str) -> None:
    try:
        load_gameday_text(text, "gd.yaml", base_dir=workdir, env={})
    except GameDayError as exc:
        assert exc.diagnostics and all(d.file == "gd.yaml" and d.line >= 1 for d in exc.diagnostics)


def test_help_lists_gameday_and_history_and_stays_cheap() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    assert "  gameday " in out and "  history " in out
    probe = "import sys, chaoskit.cli, chaoskit.commands.gameday, chaoskit.commands.history; " \
            "print(sorted(m for m in ('pydantic', 'sqlite3', 'cronsim') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_plan_lists_the_next_slots_and_what_each_run_does(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml", title="first")
    write_experiment(workdir, "b.yaml", title="second")
    write_gameday(workdir, """\
        version: 1
        name: nightly
        experiments: [a.yaml, {parallel: [a.yaml, b.yaml]}]
        schedule: {cron: "30 2 * * *", timezone: Europe/Berlin}
        deadline: 2s
        notify: {webhook: "http://127.0.0.1:9/hook"}
    """)
    out = cli("gameday", "plan", "gameday.yaml", "-n", "3", "--after", "2025-03-28T12:00:00+01:00")
    assert out.returncode == 0, out.stderr
    assert "At 02:30 every day" in out.stdout
    assert "Sat 2025-03-29 02:30 CET  (2025-03-29 01:30Z)" in out.stdout
    assert "Sun 2025-03-30 03:00 CEST" in out.stdout, "02:30 does not exist that night"
    assert "Mon 2025-03-31 02:30 CEST" in out.stdout
    assert "step 2 (in parallel, 2 experiments):" in out.stdout and "fault nothing: noop for 0.2s" in out.stdout
    assert "the deadline (2s) would cut it short" in out.stdout
    assert "POST summary to http://127.0.0.1:9/hook" in out.stdout
    assert not (workdir / ".chaoskit").exists(), "plan touches nothing"


def test_run_prints_the_summary_and_exits_with_the_outcome(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml", title="first")
    write_gameday(workdir, "version: 1\nname: once\nexperiments: [a.yaml]\n")
    out = cli("gameday", "run", "gameday.yaml")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("PASSED: game day once (1 of 1 experiment(s) passed)")
    assert "html report: " in out.stdout and "summary: " in out.stdout
    as_json = cli("gameday", "run", "--json", "gameday.yaml")
    assert json.loads(as_json.stdout)["outcome"] == "passed"

    (workdir / "broken.yaml").write_text("version: 1\ntitel: x\n")
    write_gameday(workdir, "version: 1\nname: once\nexperiments: [a.yaml, broken.yaml]\n", "bad.yaml")
    invalid = cli("gameday", "run", "bad.yaml")
    assert invalid.returncode == 2 and "broken.yaml:2:1 titel: unknown key 'titel'" in invalid.stderr
    assert "nothing was run" in invalid.stderr
    wrong = cli("gameday", "run", "nope.yaml")
    assert wrong.returncode == 2 and "nope.yaml:1:1 <root>: no such file" in wrong.stderr


def test_schedule_refuses_a_file_without_a_schedule(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml")
    write_gameday(workdir, "version: 1\nname: once\nexperiments: [a.yaml]\n")
    out = cli("gameday", "schedule", "--max-runs", "1", "gameday.yaml")
    assert out.returncode == 2 and "no schedule in" in out.stderr and "Traceback" not in out.stderr
    bad = cli("gameday", "schedule", "--stop-after", "soon", "gameday.yaml")
    assert bad.returncode == 2 and "expected a duration" in bad.stderr


def test_an_experiment_may_repeat_in_order_but_not_within_one_parallel_group(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml")
    ok = write_gameday(workdir, "version: 1\nname: t\nexperiments: [a.yaml, {parallel: [a.yaml]}, a.yaml]\n")
    assert [len(s) for s in load_gameday(ok).stages] == [1, 1, 1]
    twice = write_gameday(workdir, "version: 1\nname: t\nexperiments: [{parallel: [a.yaml, '*.yaml']}]\n", "t.yaml")
    assert errors_of(twice) == [f"{twice}:3:14 experiments: a.yaml would run twice at the same time in one "
                                "parallel group (an experiment may repeat in order, not inside a group)"]


def test_the_examples_load_and_the_docs_name_every_key() -> None:
    import yaml

    from chaoskit.gameday.model import GameDay, Notify, Schedule, Webhook

    repo = Path(__file__).resolve().parents[2]
    example = load_gameday(repo / "examples" / "gameday" / "shop.gameday.yaml")
    assert example.gameday.schedule is not None and example.stages[0][0].name == "quickstart.yaml"
    workflow = yaml.safe_load((repo / "examples" / "gameday" / "github-workflow.yml").read_text())
    assert "examples/gameday/shop.gameday.yaml" in json.dumps(workflow)
    docs = (repo / "docs" / "gamedays.md").read_text()
    for model in (GameDay, Schedule, Notify, Webhook):
        for key in model.model_fields:
            assert f"`{key}`" in docs or f"{key}:" in docs, f"docs/gamedays.md does not mention {key}"


def test_ctrl_c_interrupts_the_running_experiment_and_skips_the_rest(workdir: Path) -> None:
    import signal
    import time

    write_experiment(workdir, "long.yaml", title="long", duration="60s")
    write_experiment(workdir, "after.yaml", title="after")
    write_gameday(workdir, "version: 1\nname: stopped\nexperiments: [long.yaml, after.yaml]\n")
    proc = subprocess.Popen([sys.executable, "-m", "chaoskit", "gameday", "run", "gameday.yaml"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal_dir = workdir / ".chaoskit" / "runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            '"fault_injected"' in p.read_text() for p in journal_dir.glob("*/journal.jsonl")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert out.startswith("INTERRUPTED: game day stopped") and "stopping: running experiments revert" in err
    summary = json.loads(next((workdir / ".chaoskit" / "gamedays").glob("*/summary.json")).read_text())
    assert [e["outcome"] for e in summary["experiments"]] == ["interrupted", "skipped"]
    from chaoskit.runner.ledger import Ledger

    assert Ledger(workdir / ".chaoskit").open_entries() == []
