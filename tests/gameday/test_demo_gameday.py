"""The example game day over the demo shop (the quickstart: real shop, embedded proxy, Locust load), run three
times: every run recorded, trends and TTR over time shown, the index linking each run's report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    for _ in range(3):
        out = chaoskit("gameday", "run", "--state-dir", str(state), str(GAMEDAY), cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert out.stdout.startswith("PASSED: game day shop-weekly (1 of 1 experiment(s) passed)")
        last = json.loads((tmp_path / "last-gameday.json").read_text())  # the notification command's copy
        assert last["gameday"] == "shop-weekly" and last["outcome"] == "passed"

    data = json.loads(chaoskit("history", "--state-dir", str(state), "--json", cwd=tmp_path).stdout)
    [shop] = data["trends"]
    assert shop["experiment"] == TITLE and (shop["runs"], shop["passed"], shop["flaky"]) == (3, 3, False)
    assert shop["wilson_95"][0] == pytest.approx(0.4385, abs=1e-4) and shop["wilson_95"][1] == 1.0
    assert len(shop["ttr"]) == 3 and all(0 <= point["seconds"] < 15 for point in shop["ttr"])
    runs = data["runs"][TITLE]
    assert {r["via"] for r in runs} == {"gameday"} and {r["gameday"] for r in runs} == {"shop-weekly"}
    assert all(len(r["faults"]) == 2 and r["recovered"] for r in runs)
    assert all(v["requests"] > 100 for r in runs for v in r["verdicts"] if v["sli"] == "success_rate")

    shown = chaoskit("history", "--state-dir", str(state), "--html", str(tmp_path / "index.html"), cwd=tmp_path)
    assert re.search(r"3\s+3/3 100%\s+\[ 44%, 100%\]", shown.stdout), shown.stdout
    links = re.findall(r'<a href="([^"#]+)">report</a>', (tmp_path / "index.html").read_text())
    assert len(links) == 3 and all((tmp_path / link).resolve().is_file() for link in links)
