"""Small, fast experiments (a python probe and a noop fault, about a second each) and game-day files over them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# The probe answers what the file named by $CK_FLAG_FILE says ("ok" or anything else), so a test flips an
# experiment between passing and failing; the variable comes from the game day (its `variables`).
PROBE_MODULE = """\
import os, pathlib

async def ok():
    flag = os.environ.get("CK_FLAG_FILE")
    return flag is None or pathlib.Path(flag).read_text().strip() == "ok"

async def slow():
    import asyncio
    await asyncio.sleep(0.01)
    return True
"""

FAST = """\
version: 1
title: {title}
probes: [{{name: ok, type: python, function: "gd_probe:ok", every: 2ms}}]
slos: [{{name: up, sli: success_rate, objective: ">= 90%"}}]
phases: {{baseline: 1s, recovery: 1s, settle: 0.1s}}
faults: [{{name: nothing, type: noop, duration: {duration}}}]
"""


def write_experiment(directory: Path, name: str, title: str | None = None, duration: str = "0.2s") -> Path:
    path = directory / name
    path.write_text(FAST.format(title=title or path.stem, duration=duration))
    return path


def write_gameday(directory: Path, body: str, name: str = "gameday.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "gd_probe.py").write_text(PROBE_MODULE)
    (tmp_path / "flag").write_text("ok")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHAOSKIT_HISTORY", raising=False)
    monkeypatch.delenv("CHAOSKIT_GAMEDAY_RUN", raising=False)
    monkeypatch.delenv("CHAOSKIT_GAMEDAY", raising=False)
    return tmp_path
