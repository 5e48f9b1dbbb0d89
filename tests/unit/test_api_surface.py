"""The public surface: every hook documented with its exact signature, plugins built fresh per call."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import chaoskit
from chaoskit import hookspecs
from chaoskit.errors import PluginError
from chaoskit.plugins import plugin_manager
from chaoskit.testing import FakePlugin

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hooks() -> list[tuple[str, inspect.Signature]]:
    return [(n, inspect.signature(f)) for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if n.startswith("chaoskit_")]


@pytest.mark.parametrize(("name", "signature"), hooks())
def test_every_hook_is_documented_with_its_exact_signature(name: str, signature: inspect.Signature) -> None:
    assert f"`{name}{signature}`" in DOCS.read_text()


@pytest.mark.parametrize(("name", "signature"), hooks())
def test_every_hook_has_a_docstring(name: str, signature: inspect.Signature) -> None:
    assert (getattr(hookspecs, name).__doc__ or "").strip()


def test_all_is_sorted_and_exactly_the_public_names() -> None:
    assert chaoskit.__all__ == sorted(chaoskit.__all__)
    for name in chaoskit.__all__:
        assert getattr(chaoskit, name) is not None
    with pytest.raises(AttributeError):
        _ = chaoskit.not_a_name  # type: ignore[attr-defined]


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, chaoskit; print(sorted(m for m in ('pydantic', 'pluggy', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validating_imports_no_run_time_code() -> None:
    """Checking an experiment needs the kinds' models, not their code, so ``chaoskit validate`` stays fast."""
    import subprocess
    import sys

    quickstart = Path(__file__).resolve().parents[2] / "experiments" / "quickstart.yaml"  # http, network, process
    heavy = ("asyncio", "ssl", "subprocess", "rich", "chaoskit.faults._network", "chaoskit.faults._process",
             "chaoskit.proxy.client", "chaoskit.probes.http", "chaoskit.runner.processes", "chaoskit.load.driver")
    code = (
        "import sys\n"
        "from chaoskit.experiment.loader import load_experiment\n"
        "from chaoskit.plugins import plugin_manager\n"
        f"load_experiment({str(quickstart)!r}, plugin_manager().registry)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugin_managers_do_not_share_state() -> None:
    first = plugin_manager(extra=[FakePlugin()], entry_points_enabled=False)
    second = plugin_manager(entry_points_enabled=False)
    assert "fake" in first.registry.faults and "fake" not in second.registry.faults


def test_duplicate_kind_names_the_plugin_that_brought_it() -> None:
    class Twice(FakePlugin):
        pass

    with pytest.raises(PluginError, match=r"fault kind 'fake' .* already registered"):
        plugin_manager(extra=[FakePlugin(), Twice()], entry_points_enabled=False)


def test_builtins_register_through_hooks() -> None:
    registry = plugin_manager(entry_points_enabled=False).registry
    assert {"process.stop", "process.kill", "noop"} <= set(registry.faults)
    assert {"http", "tcp", "command", "python"} <= set(registry.probes)
    assert registry.origin["fault:process.stop"] == "chaoskit.faults.process"
