"""The load driver with real Locust children against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaoskit.errors import LoadError
from chaoskit.load.driver import LoadPlan, LocustLoad
from chaoskit.load.protocol import ChildConfig
from chaoskit.slo.histogram import LatencyHistogram
from tests.load.conftest import Target, drive, wait_gone

pytestmark = pytest.mark.slow


def http(target: Target, *requests: dict[str, object]) -> dict[str, object]:
    return {"host": target.url, "requests": list(requests) or [{"path": "/"}]}


def config(**kw: object) -> ChildConfig:
    base: dict[str, object] = {"index": 0, "users": 4, "spawn_rate": 100.0, "max_duration": 60.0}
    base.update(kw)
    return ChildConfig(**base)  # type: ignore[arg-type]


def test_windows_are_clock_aligned_and_count_every_request(target: Target, locustfile: Path) -> None:
    target.reset()
    users = 5
    load = LocustLoad(
        LoadPlan(config(users=users, rate=200.0, locustfile=str(locustfile), host=target.url), processes=1)
    )
    run = asyncio.run(drive(load, 2.0))
    served = target.served()
    assert run.windows and all(w.source == "load" for w in run.windows)
    assert all(math.isclose(w.end - w.start, 0.25) for w in run.windows)
    assert all(math.isclose(w.start / 0.25, round(w.start / 0.25), abs_tol=1e-6) for w in run.windows)
    assert {w.name for w in run.windows} == {"/", "/err"}
    # each slot is one window per request name, never two
    assert all(len(ws) == len({w.name for w in ws}) for ws in run.slots().values())
    # a request still in flight at stop is killed before Locust reports it: at most one per user
    assert served - users <= run.total() <= served
    assert run.errors("/err") == run.total("/err") > 0 and run.errors("/") == 0
    # paced at 200/s: 4 windows a second of ~50 requests
    steady = [sum(w.count for w in ws) for _, ws in sorted(run.slots().items())[2:-3]]
    assert 150 <= sum(steady) / len(steady) * 4 <= 250


def test_latency_thresholds_are_counted_at_the_source(target: Target) -> None:
    spec = http(target, {"path": "/sleep/30", "name": "slow"}, {"path": "/", "name": "fast"})
    load = LocustLoad(LoadPlan(config(users=4, rate=80.0, http=spec, thresholds=(0.01, 2.0)), processes=1))
    run = asyncio.run(drive(load, 1.5))
    slow = [w for w in run.windows if w.name == "slow"]
    assert sum(w.count for w in slow) > 20 and run.total("fast") > 20
    assert sum(w.slower[0.01] for w in slow) == sum(w.count for w in slow)  # the server sleeps 30 ms
    assert sum(w.slower[2.0] for w in slow) == 0
    for w in run.windows:  # the exact counts agree with the histogram, up to the bucket holding the threshold
        for threshold, slower in w.slower.items():
            edge = LatencyHistogram.key(threshold)
            assert (
                w.histogram.count_above(threshold)
                <= slower
                <= w.histogram.count_above(threshold) + (w.histogram.buckets.get(edge, 0))
            )
    p50 = LatencyHistogram.merged(w.histogram for w in slow).quantile(0.5)
    assert p50 is not None and p50 > 0.0297


def test_declarative_weights_status_and_errors(target: Target) -> None:
    spec = http(
        target,
        {"path": "/", "weight": 3, "name": "home"},
        {"path": "/err", "weight": 1, "name": "broken"},
        {"path": "/err", "weight": 1, "name": "expected-500", "status": [500]},
        {"path": "/", "weight": 1, "name": "wants-201", "status": [201], "method": "POST", "json": {"a": 1}},
    )
    load = LocustLoad(LoadPlan(config(users=4, http=spec), processes=1))
    run = asyncio.run(drive(load, 1.5))
    home, broken = run.total("home"), run.total("broken")
    assert home > 300 and 2.2 < home / broken < 4.0
    assert run.errors("home") == 0
    assert run.errors("broken") == broken
    assert run.errors("expected-500") == 0 < run.total("expected-500")
    assert run.errors("wants-201") == run.total("wants-201") > 0


def test_two_children_merge_into_one_window_per_slot_and_name(target: Target) -> None:
    target.reset()
    load = LocustLoad(LoadPlan(config(users=6, rate=300.0, http=http(target)), processes=2))
    run = asyncio.run(drive(load, 2.0))
    served = target.served()
    assert len(load.hellos) == 2
    assert all(len(ws) == 1 for ws in run.slots().values())
    # both children's requests are in the merged windows: the total matches what the server answered
    assert served - 6 <= run.total() <= served
    assert load.status is not None


def test_set_level_changes_the_achieved_rate(target: Target) -> None:
    async def scenario() -> tuple[float, float]:
        load = LocustLoad(LoadPlan(config(users=4, rate=80.0, http=http(target)), processes=1))
        counts: dict[float, int] = {}

        async def consume() -> None:
            async for w in load.windows():
                counts[w.start] = counts.get(w.start, 0) + w.count

        task = asyncio.create_task(consume())
        await asyncio.sleep(3.0)
        switch = time.time()
        await load.set_level(8, 400.0)
        await asyncio.sleep(2.5)
        await load.stop()
        await task
        before = [n for s, n in counts.items() if switch - 1.5 <= s < switch - 0.25]
        after = [n for s, n in counts.items() if switch + 0.75 <= s < switch + 2.0]
        return sum(before) / len(before) * 4, sum(after) / len(after) * 4

    before, after = asyncio.run(scenario())
    assert 55 <= before <= 100
    assert 280 <= after <= 480


def test_a_broken_locustfile_is_a_load_error_with_its_message(tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("import no_such_module_here\n")
    load = LocustLoad(LoadPlan(config(locustfile=str(bad)), processes=1))
    with pytest.raises(LoadError, match="no_such_module_here"):
        asyncio.run(drive(load, 0.1))


def test_an_unknown_user_class_is_named(locustfile: Path, target: Target) -> None:
    load = LocustLoad(LoadPlan(config(locustfile=str(locustfile), user_classes=("Ghost",), host=target.url)))
    with pytest.raises(LoadError, match=r"no User class Ghost .*Shopper"):
        asyncio.run(drive(load, 0.1))


def test_cancelling_the_consumer_stops_every_child(target: Target) -> None:
    async def scenario() -> list[int]:
        load = LocustLoad(LoadPlan(config(http=http(target)), processes=2))
        got = asyncio.Event()

        async def consume() -> None:
            async for _ in load.windows():
                got.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got.wait(), 30)
        pids = load.pids
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await load.stop()  # what the runner does next: must be harmless
        return pids

    pids = asyncio.run(scenario())
    assert len(pids) == 2
    assert wait_gone(pids, 1.0) == []


def test_the_driver_never_imports_locust_or_gevent() -> None:
    code = (
        "import sys, chaoskit.load.driver, chaoskit.load.plugin, chaoskit.plugins as p; p.plugin_manager(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent', 'zmq')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # nor did these tests


# ------------------------------------------------------------------------------------ the child on its own


def start_child(cfg: ChildConfig) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaoskit.load.child", "--config", cfg.to_json()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def read_until(proc: subprocess.Popen[bytes], kind: str, timeout: float = 30.0) -> list[dict[str, object]]:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line))
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} message; saw {[m['type'] for m in seen]}")


def test_child_percentiles_match_the_raw_samples_of_each_window_within_one_percent(target: Target) -> None:
    spec = http(target, {"path": "/sleep/2", "weight": 1}, {"path": "/", "weight": 3})
    proc = start_child(config(users=8, rate=800.0, http=spec, keep_samples=True))
    try:
        messages = read_until(proc, "hello")
        windows = []
        while len(windows) < 12:
            messages = read_until(proc, "window")
            windows.append(messages[-1])
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(10)
    checked = 0
    for window in windows[2:]:
        for name, counts in window["names"].items():  # type: ignore[attr-defined]
            raw = sorted(counts["raw"])
            if len(raw) < 20:
                continue
            histogram = LatencyHistogram(dict(counts["h"]))
            assert histogram.count == counts["n"] == len(raw)
            for q in (0.5, 0.95, 0.99):
                exact = raw[math.floor(q * (len(raw) - 1))]
                reported = histogram.quantile(q)
                assert reported is not None and abs(reported - exact) / exact < 0.01, (name, q, reported, exact)
            checked += 1
    assert checked >= 10


def test_child_exits_when_its_stdin_closes(target: Target) -> None:
    proc = start_child(config(http=http(target)))
    read_until(proc, "window")
    proc.stdin.close()  # type: ignore[union-attr]
    messages = read_until(proc, "stopped", timeout=10)
    assert messages[-1]["reason"] == "stdin closed"
    assert proc.wait(10) == 0


def test_child_exits_after_its_max_duration(target: Target) -> None:
    proc = start_child(config(http=http(target), max_duration=2.0))
    began = time.monotonic()
    messages = read_until(proc, "stopped", timeout=20)
    assert messages[-1]["reason"] == "max_duration"
    assert proc.wait(10) == 0 and time.monotonic() - began < 15


def test_children_die_with_a_killed_parent(target: Target, tmp_path: Path) -> None:
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import asyncio, json
            from chaoskit.load.driver import LoadPlan, LocustLoad
            from chaoskit.load.protocol import ChildConfig

            async def main():
                cfg = ChildConfig(index=0, users=2, spawn_rate=10, http=json.loads({json.dumps(http(target))!r}))
                load = LocustLoad(LoadPlan(child=cfg, processes=2))
                async for _ in load.windows():
                    print(*load.pids, flush=True)
                    await asyncio.sleep(3600)

            asyncio.run(main())
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_gone(pids, 5.0) == []
