"""The example game day over the demo shop (the quickstart: real shop, embedded proxy, Locust load), run three
times: every run recorded, trends and TTR over time shown, the index linking each run's report.

The quickstart's own verdict is tested in tests/e2e; on a loaded machine its baseline gate may refuse (ERROR), so
this test checks that the history tells exactly what the three game days concluded, whatever that was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.history.trends import is_flaky, wilson_interval

REPO = Path(__file__).resolve().parents[2]
GAMEDAY = REPO / "examples" / "gameday" / "shop.gameday.yaml"
TITLE = "The shop keeps serving products when its store is slow or frozen"

pytestmark = pytest.mark.slow


def chaoskit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSKIT_")}
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_demo_game_day_run_three_times_shows_history_and_trends(tmp_path: Path) -> None:
    state = tmp_path / "state"
    outcomes = []
    for _ in range(3):
        out = chaoskit("gameday", "run", "--state-dir", str(state), str(GAMEDAY), cwd=tmp_path)
        last = json.loads((tmp_path / "last-gameday.json").read_text())  # the notification command's copy
        assert last["gameday"] == "shop-weekly" and out.returncode == last["exit_code"], out.stderr[-3000:]
        assert last["outcome"] in ("passed", "failed", "error", "inconclusive"), out.stdout[-3000:]
        outcomes.append(last["experiments"][0]["outcome"])
        (tmp_path / "last-gameday.json").unlink()
    passed = outcomes.count("passed")

    data = json.loads(chaoskit("history", "--state-dir", str(state), "--json", cwd=tmp_path).stdout)
    [shop] = data["trends"]
    assert shop["experiment"] == TITLE and shop["outcomes"] == outcomes
    assert (shop["runs"], shop["judged"], shop["passed"]) == (3, 3, passed)
    assert shop["wilson_95"] == pytest.approx(list(wilson_interval(passed, 3)))
    assert shop["flaky"] is is_flaky(passed, 3)
    runs = data["runs"][TITLE]
    assert {r["via"] for r in runs} == {"gameday"} and {r["gameday"] for r in runs} == {"shop-weekly"}
    assert len({r["gameday_run"] for r in runs}) == 3
    injected = [r for r in runs if any(f.get("recovery_seconds") is not None for f in r["faults"])]
    assert len(shop["ttr"]) == len(injected) and all(0 <= p["seconds"] < 30 for p in shop["ttr"])
    # real Locust load behind the verdicts: the baseline (12 s at 150/s) saw well over 100 requests in every run
    # that got that far (a fault's own phase may end after a few requests when the fault is aborted early)
    baselines = [v for r in runs for v in r["verdicts"] if v["sli"] == "success_rate" and v["phase"] == "baseline"]
    assert baselines and all(v["requests"] > 100 for v in baselines), [r["verdicts"] for r in runs]
    if passed:
        assert any(len(r["faults"]) == 2 and r["recovered"] for r in runs)

    shown = chaoskit("history", "--state-dir", str(state), "--html", str(tmp_path / "index.html"), cwd=tmp_path)
    assert re.search(rf"\b3\s+{passed}/3\s+\d+%\s+\[\s*\d+%,\s+\d+%\]", shown.stdout), shown.stdout
    links = re.findall(r'<a href="([^"#]+)">report</a>', (tmp_path / "index.html").read_text())
    assert len(links) == 3 and all((tmp_path / link).resolve().is_file() for link in links)
