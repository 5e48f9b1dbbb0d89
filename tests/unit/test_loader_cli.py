"""``chaoskit validate`` and ``chaoskit schema`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import chaoskit.plugins
from chaoskit.cli import main
from chaoskit.errors import PluginError
from tests.unit.loader_helpers import FIVE_MISTAKES

REPO = Path(__file__).resolve().parents[2]

# The built-in kinds (process.stop, process.kill, ...) are what a user has; the messages depend only on them.
EXPECTED = [
    "6:16 target.processes[0].command: expected a list, got 'python -m targets.shop.api' "
    "(write a list: [a, b, c], or one '- item' per line)",
    "7:1 phase: unknown key 'phase' (did you mean 'phases'?)",
    "9:5 slos[0]: missing required key 'threshold'",
    "11:26 faults[0].type: unknown fault type 'process.stpo' (did you mean 'process.stop'?)",
    "13:17 guardrails.max_duration: expected a duration such as 500ms, 5s or 2m, got '10 minutes'",
]


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(FIVE_MISTAKES)
    return path


def test_validate_prints_five_located_errors_and_exits_2(bad: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.stdout.splitlines() == [f"{bad}:{line}" for line in EXPECTED]
    assert result.stderr.strip() == "5 errors in 1 of 1 file"


def test_validate_as_a_subprocess(bad: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chaoskit", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.splitlines() == [f"{bad}:{line}" for line in EXPECTED]
    assert "Traceback" not in proc.stderr


def test_validate_ok_files_and_json(tmp_path: Path, bad: Path) -> None:
    good = REPO / "experiments" / "quickstart.yaml"
    result = CliRunner().invoke(main, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {good}\n"

    result = CliRunner().invoke(main, ["validate", "--json", str(good), str(bad), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    found = json.loads(result.stdout)
    assert [(d["file"], d["line"]) for d in found][-1] == (str(tmp_path / "missing.yaml"), 1)
    assert len(found) == 6 and found[1] == {
        "file": str(bad),
        "line": 7,
        "column": 1,
        "path": "phase",
        "message": "unknown key 'phase'",
        "hint": "did you mean 'phases'?",
    }
    assert "6 errors in 2 of 3 files" in result.stderr


def test_validate_reads_standard_input() -> None:
    result = CliRunner().invoke(main, ["validate", "-"], input="version: 1\ntitle: from stdin\n")
    assert result.exit_code == 0 and result.stdout == "ok: -\n"
    result = CliRunner().invoke(main, ["validate", "-"], input="version: 1\n")
    assert result.exit_code == 2 and result.stdout.startswith("<stdin>:1:1 <root>: missing required key 'title'")


def test_a_broken_plugin_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch, bad: Path) -> None:
    def broken(**kwargs: object) -> object:
        raise PluginError("plugin 'x' failed to load: boom", plugin="x")

    monkeypatch.setattr(chaoskit.plugins, "plugin_manager", broken)
    for args in (["validate", str(bad)], ["schema"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert result.stderr == "error: plugin 'x' failed to load: boom\n"
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_schema_prints_json_schema_with_installed_kinds() -> None:
    result = CliRunner().invoke(main, ["schema", "--indent", "0"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "process.stop" in result.stdout
    assert "\n" not in result.stdout.strip()
