"""Running a game day: steps in order, parallel groups at once, variables in every experiment's environment,
the deadline and stop-on-failure, reports beside each journal, and the summary."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from chaoskit.gameday.clock import ManualClock
from chaoskit.gameday.launcher import Launch
from chaoskit.gameday.loader import load_gameday
from chaoskit.gameday.result import ExperimentRun
from chaoskit.gameday.runner import run_gameday
from chaoskit.runner.result import Outcome

from .helpers import write_experiment, write_gameday


class ClockLauncher:
    """Each experiment takes ``seconds`` of a hand-moved clock, or ends INTERRUPTED when stopped first."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.started: list[str] = []

    async def __call__(self, launch: Launch, stop: asyncio.Event) -> ExperimentRun:
        self.started.append(launch.path.name)
        begin = self.clock.now()
        sleep = asyncio.ensure_future(self.clock.sleep_until(begin + self.seconds))
        halt = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleep, halt}, return_when=asyncio.FIRST_COMPLETED)
        sleep.cancel()
        halt.cancel()
        outcome = Outcome.INTERRUPTED if stop.is_set() else Outcome.PASSED
        return ExperimentRun(str(launch.path), launch.stage, outcome.value, "stopped" if stop.is_set() else "ok",
                             started_at=begin, finished_at=self.clock.now())


def test_the_deadline_interrupts_the_running_experiment_and_skips_the_rest(workdir: Path) -> None:
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        write_experiment(workdir, name)
    gd = load_gameday(write_gameday(workdir, """\
        version: 1
        name: timed
        experiments: [a.yaml, b.yaml, c.yaml]
        deadline: 30m
    """))

    async def scenario() -> tuple[object, ClockLauncher]:
        clock = ManualClock(1_700_000_000)
        launcher = ClockLauncher(clock, seconds=20 * 60)
        task = asyncio.ensure_future(run_gameday(gd, state_dir=workdir / "st", launcher=launcher, clock=clock,
                                                 notify=False))
        await clock.advance(25 * 60)  # a done at 20 min, b running
        assert launcher.started == ["a.yaml", "b.yaml"] and not task.done()
        await clock.advance(10 * 60)  # the deadline at 30 min stops b
        return await task, launcher

    result, launcher = asyncio.run(scenario())
    assert launcher.started == ["a.yaml", "b.yaml"]
    assert [(r.outcome, r.reason) for r in result.experiments] == [  # type: ignore[attr-defined]
        ("passed", "ok"), ("interrupted", "stopped"), ("skipped", "the deadline was reached")]
    assert result.outcome is Outcome.INTERRUPTED and result.deadline_reached  # type: ignore[attr-defined]
    stopped = result.experiments[1]  # type: ignore[attr-defined]
    assert stopped.finished_at - result.started_at == 30 * 60, "stopped at the deadline, not later"  # type: ignore


def test_a_game_day_within_its_deadline_is_not_cut(workdir: Path) -> None:
    write_experiment(workdir, "a.yaml")
    gd = load_gameday(write_gameday(workdir, "version: 1\nname: t\nexperiments: [a.yaml, a.yaml]\ndeadline: 1h\n"))

    async def scenario() -> object:
        clock = ManualClock(0)
        task = asyncio.ensure_future(run_gameday(gd, state_dir=workdir / "st", launcher=ClockLauncher(clock, 600),
                                                 clock=clock, notify=False))
        await clock.advance(3600)
        return await task

    result = asyncio.run(scenario())
    assert result.outcome is Outcome.PASSED and not result.deadline_reached  # type: ignore[attr-defined]


def test_variables_parallel_groups_reports_and_summary(workdir: Path) -> None:
    (workdir / "suite").mkdir()
    write_experiment(workdir / "suite", "one.yaml", title="one for ${WHO}", duration="1s")
    write_experiment(workdir / "suite", "two.yaml", title="two for ${WHO}", duration="1s")
    write_experiment(workdir, "last.yaml", title="last")
    gd = load_gameday(write_gameday(workdir, """\
        version: 1
        name: suite
        experiments:
          - parallel: ["suite/*.yaml"]
          - last.yaml
        variables: {WHO: the team, CK_FLAG_FILE: flag}
    """))
    assert [[p.name for p in stage] for stage in gd.stages] == [["one.yaml", "two.yaml"], ["last.yaml"]]
    result = asyncio.run(run_gameday(gd, state_dir=workdir / "st", notify=False))
    assert result.outcome is Outcome.PASSED, result.reason
    one, two, last = result.experiments
    assert (one.title, two.title) == ("one for the team", "two for the team"), "variables reach ${VAR}"
    assert one.started_at is not None and two.started_at is not None and one.finished_at and two.finished_at
    assert max(one.started_at, two.started_at) < min(one.finished_at, two.finished_at), "a group runs at once"
    assert last.started_at is not None and last.started_at >= max(one.finished_at, two.finished_at)
    for run in result.experiments:
        assert run.journal and Path(run.journal).is_file()
        assert "<title>PASSED: " in Path(run.reports["html"]).read_text()
    summary = json.loads((Path(result.directory or "") / "summary.json").read_text())
    assert summary["schema"] == "chaoskit.gameday/1" and summary["outcome"] == "passed"
    assert summary["counts"] == {"passed": 3} and len(summary["experiments"]) == 3


def test_stop_on_failure_skips_the_remaining_steps(workdir: Path) -> None:
    (workdir / "flag").write_text("broken")  # the probe fails: the baseline gate refuses to inject
    write_experiment(workdir, "first.yaml")
    write_experiment(workdir, "second.yaml")
    body = "version: 1\nname: t\nexperiments: [first.yaml, second.yaml]\nvariables: {CK_FLAG_FILE: flag}\n"
    gd = load_gameday(write_gameday(workdir, body + "stop_on_failure: true\n"))
    result = asyncio.run(run_gameday(gd, state_dir=workdir / "st", notify=False))
    first, second = result.experiments
    assert first.outcome in ("failed", "error") and second.outcome == "skipped"
    assert second.reason == "an earlier experiment failed (stop_on_failure)" and result.stopped_early
    assert result.outcome is Outcome(first.outcome) and result.exit_code != 0

    gd = load_gameday(write_gameday(workdir, body))  # without it, every step runs
    assert [r.outcome for r in asyncio.run(run_gameday(gd, state_dir=workdir / "st", notify=False)).experiments] \
        == [first.outcome, first.outcome]


def test_an_invalid_experiment_stops_the_game_day_before_anything_runs(workdir: Path) -> None:
    write_experiment(workdir, "good.yaml")
    (workdir / "bad.yaml").write_text("version: 1\ntitle: ${NOT_SET_ANYWHERE}\n")
    gd = load_gameday(write_gameday(workdir, "version: 1\nname: t\nexperiments: [good.yaml, bad.yaml]\n"))
    result = asyncio.run(run_gameday(gd, state_dir=workdir / "st", notify=False))
    assert result.outcome is Outcome.INVALID and result.exit_code == 2
    good, bad = result.experiments
    assert good.outcome == "skipped" and good.run_id is None
    assert bad.outcome == "invalid" and "NOT_SET_ANYWHERE" in bad.reason
    assert not (workdir / "st" / "runs").exists(), "nothing ran"


def test_stopping_a_real_run_interrupts_it_and_its_faults_are_reverted(workdir: Path) -> None:
    write_experiment(workdir, "long.yaml", duration="60s")
    gd = load_gameday(write_gameday(workdir, "version: 1\nname: t\nexperiments: [long.yaml]\ndeadline: 3s\n"))
    began = time.monotonic()
    result = asyncio.run(run_gameday(gd, state_dir=workdir / "st", notify=False))
    took = time.monotonic() - began
    [run] = result.experiments
    assert run.outcome == "interrupted" and result.deadline_reached and took < 30
    ledger = (workdir / "st" / "ledger.jsonl").read_text()
    assert '"nothing"' in ledger
    from chaoskit.runner.ledger import Ledger

    assert Ledger(workdir / "st").open_entries() == [], "the noop fault was reverted and its entry closed"
