"""The python probe: sync and async functions, falsy results, exceptions, timeouts and bad paths."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from chaoskit.errors import ProbeError
from chaoskit.probes.python import PythonProbe, PythonProbeSpec
from chaoskit.registry import Observation

MODULE = "chaoskit_probe_checks"


@pytest.fixture
def checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of probe functions on ``sys.path``, as an experiment's directory would be."""
    (tmp_path / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            import asyncio, time

            def healthy():
                return True

            def silent():
                pass

            def unhealthy():
                return False

            def empty_list():
                return []

            def explains():
                return "3 of 3 replicas"

            def stock_at_least(minimum, current=5):
                return current >= minimum

            def boom():
                raise RuntimeError("store said no")

            async def async_healthy(delay=0.01):
                await asyncio.sleep(delay)
                return True

            async def async_boom():
                await asyncio.sleep(0)
                raise ConnectionError("refused")

            def sleepy(seconds):
                time.sleep(seconds)
                return True

            class Checks:
                @staticmethod
                def nested():
                    return True

            not_callable = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield MODULE
    finally:
        sys.modules.pop(MODULE, None)


def observe(probe: PythonProbe) -> Observation:
    return asyncio.run(probe.observe())


@pytest.mark.parametrize(
    ("function", "ok", "detail"),
    [
        ("healthy", True, ""),
        ("silent", True, ""),
        ("explains", True, "3 of 3 replicas"),
        ("unhealthy", False, "returned False"),
        ("empty_list", False, "returned []"),
        ("boom", False, "RuntimeError: store said no"),
        ("async_healthy", True, ""),
        ("async_boom", False, "ConnectionError: refused"),
        ("Checks.nested", True, ""),
    ],
)
def test_results(checks: str, function: str, ok: bool, detail: str) -> None:
    obs = observe(PythonProbe.from_path(f"{checks}:{function}"))
    assert (obs.ok, obs.detail) == (ok, detail)


def test_args_are_keyword_arguments(checks: str) -> None:
    assert observe(PythonProbe.from_path(f"{checks}:stock_at_least", args={"minimum": 3})).ok
    assert not observe(PythonProbe.from_path(f"{checks}:stock_at_least", args={"minimum": 9})).ok


def test_args_that_do_not_fit_are_a_probe_error(checks: str) -> None:
    with pytest.raises(ProbeError, match="args do not fit"):
        PythonProbe.from_path(f"{checks}:stock_at_least", args={"minimun": 3})


def test_async_timeout(checks: str) -> None:
    obs = observe(PythonProbe.from_path(f"{checks}:async_healthy", args={"delay": 5}, timeout=0.2))
    assert not obs.ok and obs.detail == "timed out after 0.2s"
    assert obs.latency < 3


def test_sync_timeout_then_the_hung_call_blocks_the_next(checks: str) -> None:
    probe = PythonProbe.from_path(f"{checks}:sleepy", args={"seconds": 1.0}, timeout=0.2)

    async def run() -> tuple[Observation, Observation, Observation]:
        first = await probe.observe()
        second = await probe.observe()  # the first call still sleeps on the probe's thread
        deadline = time.monotonic() + 20
        while probe._running is not None and not probe._running.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        probe.timeout = 10
        third = await probe.observe()
        await probe.close()
        return first, second, third

    first, second, third = asyncio.run(run())
    assert not first.ok and first.detail == "timed out after 0.2s"
    assert not second.ok and second.detail == "the previous call is still running"
    assert third.ok


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_xyz:check", "cannot import module 'no_such_module_xyz'"),
        (f"{MODULE}:missing", "has no attribute 'missing'"),
        (f"{MODULE}:not_callable", "is a int, not a function"),
    ],
)
def test_bad_paths_are_probe_errors(checks: str, path: str, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        PythonProbe.from_path(path, name="p")


def test_a_module_that_fails_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "chaoskit_broken_checks.py").write_text("raise ValueError('half-written module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProbeError, match="raised ValueError: half-written module"):
        PythonProbe.from_path("chaoskit_broken_checks:anything")


spec_adapter = TypeAdapter(PythonProbeSpec)


@pytest.mark.parametrize("function", ["checks", "checks:", ":fn", "checks/x:fn", "checks:fn()", "a b:c", "1x:fn"])
def test_spec_rejects_malformed_paths(function: str) -> None:
    with pytest.raises(ValidationError, match="expected module:function"):
        spec_adapter.validate_python({"name": "p", "type": "python", "function": function})


def test_spec_builds_a_probe(checks: str) -> None:
    spec = spec_adapter.validate_python(
        {"name": "p", "type": "python", "function": f"{checks}:stock_at_least", "args": {"minimum": 1}}
    )
    probe = PythonProbe.from_spec(spec)
    assert observe(probe).ok
