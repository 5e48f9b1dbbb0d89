"""Helpers: small, fast experiments (a python probe, a noop fault: about two seconds) and game-day files."""

from __future__ import annotations

import textwrap
from pathlib import Path

# The probe answers what the file named by $CK_FLAG_FILE says ("ok" or anything else), so a test flips an
# experiment between passing and failing; the variable comes from the game day (its `variables`).
PROBE_MODULE = """\
import os, pathlib

async def ok():
    flag = os.environ.get("CK_FLAG_FILE")
    return flag is None or pathlib.Path(flag).read_text().strip() == "ok"

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
