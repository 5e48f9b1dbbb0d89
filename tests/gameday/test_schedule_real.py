"""The real scheduler process: a one-minute cron schedule fires twice in a two-minute run, and a scheduler
killed with SIGKILL mid-run is replaced without running its slot twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.history.store import SqliteHistory

from .helpers import write_experiment, write_gameday

# timing-bound on a shared 2-core machine: one rerun (reported as such) before a failure counts
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1, reruns_delay=2)]


def scheduler(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "chaoskit", "gameday", "schedule", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def slot_rows(state: Path) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(state / "schedule.sqlite")
    try:
        return list(db.execute("SELECT slot_iso, state, outcome FROM slots ORDER BY slot").fetchall())
    except sqlite3.OperationalError:  # the scheduler has created the file but not yet its tables
        return []
    finally:
        db.close()


def test_a_one_minute_schedule_fires_twice_in_two_minutes(workdir: Path) -> None:
    write_experiment(workdir, "exp.yaml", title="every minute")
    write_gameday(workdir, """\
        version: 1
        name: minutely
        experiments: [exp.yaml]
        schedule: {cron: "* * * * *", timezone: Europe/Berlin}
    """)
    began = time.monotonic()
    proc = scheduler("--state-dir", "st", "--max-runs", "2", "--stop-after", "170s", "gameday.yaml")
    _, err = proc.communicate(timeout=240)
    took = time.monotonic() - began
    assert proc.returncode == 0, err
    rows = slot_rows(workdir / "st")
    assert [(s, o) for _, s, o in rows] == [("done", "passed"), ("done", "passed")], err
    first, second = (dt.datetime.fromisoformat(iso) for iso, _, _ in rows)
    assert second - first == dt.timedelta(minutes=1) and first.second == 0
    assert str(first.utcoffset()) in ("1:00:00", "2:00:00"), "slots are read in the schedule's time zone"
    assert took < 150
    runs = SqliteHistory(workdir / "st" / "history.sqlite").runs()
    assert len(runs) == 2 and {r.via for r in runs} == {"gameday"} and len({r.gameday_run for r in runs}) == 2
    for run in runs:  # each run started within seconds of its slot
        assert any(0 <= run.started_at - slot.timestamp() < 15 for slot in (first, second))
    assert err.count("starts") == 2 and "finished PASSED" in err


def test_a_killed_scheduler_is_replaced_without_running_its_slot_twice(workdir: Path) -> None:
    write_experiment(workdir, "exp.yaml", title="every ten seconds", duration="2s")
    write_gameday(workdir, """\
        version: 1
        name: often
        experiments: [exp.yaml]
        schedule: {cron: "*/10 * * * * *"}
    """)
    state = workdir / "st"
    first = scheduler("--state-dir", "st", "--stop-after", "60s", "gameday.yaml")
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # until a slot is running
        if (state / "schedule.sqlite").exists() and any(s == "running" for _, s, _ in slot_rows(state)):
            break
        time.sleep(0.2)
    else:
        first.kill()
        pytest.fail("no slot started within 40 s: " + (first.communicate()[1] or ""))
    first.send_signal(signal.SIGKILL)  # no cleanup at all; its experiment run goes on in its own session
    first.communicate(timeout=30)
    [killed_slot] = [iso for iso, s, _ in slot_rows(state) if s == "running"]

    second = scheduler("--state-dir", "st", "--max-runs", "2", "--stop-after", "90s", "gameday.yaml")
    _, err = second.communicate(timeout=150)
    assert second.returncode == 0, err
    rows = slot_rows(state)
    assert (killed_slot, "abandoned", None) in rows and "marked abandoned" in err
    done = [iso for iso, s, _ in rows if s == "done"]
    assert len(done) == 2 and killed_slot not in done
    # the killed scheduler's run still finished by itself; three game days ran, one per slot, none twice
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(SqliteHistory(state / "history.sqlite").runs()) < 3:
        time.sleep(0.5)
    runs = SqliteHistory(state / "history.sqlite").runs()
    assert len(runs) == 3 and len({r.gameday_run for r in runs}) == 3
    summaries = [json.loads(p.read_text()) for p in (state / "gamedays").glob("*/summary.json")]
    assert sorted(s["slot"] for s in summaries) == sorted(done), "the replacement ran only its own slots"
    assert len(list((state / "gamedays").iterdir())) == 3
    assert os.path.exists(state / "scheduler.lock")
