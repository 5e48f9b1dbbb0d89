"""The examples in examples/ work as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_pytest_example_passes() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/pytest-use"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 passed" in out.stdout


def test_library_example_reports_every_problem_of_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntitle: x\nphases: {baseline: soon}\nfaults: [{name: f, type: nope, duration: 1s}]\n")
    out = subprocess.run([sys.executable, "examples/library-use/run_quickstart.py", str(bad)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "phases.baseline" in out.stderr and "unknown fault type 'nope'" in out.stderr


@pytest.mark.flaky(reruns=1, reruns_delay=2)  # real load and latency SLOs on a shared machine
def test_quickstart_passes_as_make_demo_runs_it(tmp_path: Path) -> None:
    """What `make demo` runs: the shop, the embedded proxy, Locust load, two faults, a PASSED verdict."""
    out = subprocess.run(
        [sys.executable, "-m", "chaoskit", "run", "--state-dir", str(tmp_path), "experiments/quickstart.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert out.stdout.startswith("PASSED: The shop keeps serving products")
    for fault in ("store-latency (network.latency)", "store-frozen (process.stop)"):
        assert f"fault {fault.split()[0]} {fault.split()[1]}" in out.stdout
    assert out.stdout.count("reverted+verified") == 2
