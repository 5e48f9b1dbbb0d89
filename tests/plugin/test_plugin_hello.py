"""A third-party plugin package, installed for real, adds a fault kind that experiments can use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(REPO / "examples" / "plugin-hello")],
        check=True, timeout=300,
    )
    return target


def chaoskit(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "chaoskit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_installed_plugin_is_listed(site: Path, tmp_path: Path) -> None:
    out = chaoskit(site, "plugins", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "hello.file" in out.stdout and "[hello]" in out.stdout


def test_installed_plugin_fault_runs_and_is_reverted(site: Path, tmp_path: Path) -> None:
    flag = tmp_path / "maintenance.flag"
    seen = tmp_path / "seen.txt"
    (tmp_path / "exp.yaml").write_text(
        "version: 1\ntitle: hello plugin\nphases: {baseline: 0s, recovery: 1s}\n"
        "faults:\n"
        "  - {name: flag, type: hello.file, target: {path: maintenance.flag}, params: {message: hi}, duration: 1s}\n"
        "rollbacks:\n"
        f"  - {{name: record, command: [sh, -c, 'test -e {flag} && echo present > {seen} || echo absent > {seen}']}}\n"
    )
    out = chaoskit(site, "run", "--state-dir", str(tmp_path / "state"), "exp.yaml", cwd=tmp_path)
    assert "fault flag (hello.file) on file" in out.stdout and "reverted+verified" in out.stdout, out.stdout
    assert not flag.exists()
    assert seen.read_text().strip() == "absent"  # rollbacks run after every revert


def test_validate_suggests_the_plugin_kind(site: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "version: 1\ntitle: typo\nfaults:\n  - {name: f, type: hello.fil, target: {path: x}, duration: 1s}\n"
    )
    out = chaoskit(site, "validate", "bad.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert "hello.file" in out.stdout + out.stderr
