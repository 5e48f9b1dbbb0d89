"""The ``workdir`` fixture: a temporary directory with the probe module of the fast experiments."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import PROBE_MODULE


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "gd_probe.py").write_text(PROBE_MODULE)
    (tmp_path / "flag").write_text("ok")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHAOSKIT_HISTORY", raising=False)
    monkeypatch.delenv("CHAOSKIT_GAMEDAY_RUN", raising=False)
    monkeypatch.delenv("CHAOSKIT_GAMEDAY", raising=False)
    return tmp_path
