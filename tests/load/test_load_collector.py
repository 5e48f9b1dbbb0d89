"""The Locust-side collector, exercised without Locust: it is plain Python fed request events."""

from __future__ import annotations

import math
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chaoskit.load import collector
from chaoskit.load.collector import MAX_NAMES, OTHER_NAME, Pacing, WindowCollector, bucket_key, merge_names
from chaoskit.slo.histogram import LatencyHistogram


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@given(st.floats(min_value=1e-7, max_value=1e4, allow_nan=False))
def test_bucket_key_is_the_histogram_key(seconds: float) -> None:
    # the collector cannot import chaoskit (it is shipped to workers), so it repeats the bucketing
    assert bucket_key(seconds) == LatencyHistogram.key(seconds)
    assert collector.GAMMA == __import__("chaoskit.slo.histogram", fromlist=["GAMMA"]).GAMMA


def test_collector_imports_nothing_but_the_standard_library() -> None:
    source = Path(collector.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert all("chaoskit" not in line and "locust" not in line and "gevent" not in line for line in top_level)


def test_requests_land_in_the_window_in_which_they_completed() -> None:
    clock = Clock(1000.0)
    c = WindowCollector(0.25, (0.05,), clock=clock)
    c.on_request(name="/a", response_time=10.0, start_time=1000.10)  # ends 1000.11 -> slot 4000
    c.on_request(name="/a", response_time=200.0, start_time=1000.10)  # ends 1000.30 -> slot 4001
    c.on_request(name="/b", response_time=1.0, start_time=1000.0, exception=RuntimeError("500"))
    assert c.flush(1000.25) == []  # not closed until the grace has passed
    first = c.flush(1000.29)
    assert [p["k"] for p in first] == [4000]
    names = first[0]["names"]
    assert names["/a"]["n"] == 1 and names["/a"]["e"] == 0 and names["/a"]["s"] == [0]
    assert names["/b"]["n"] == 1 and names["/b"]["e"] == 1
    second = c.flush(1000.80)
    assert [p["k"] for p in second] == [4001, 4002]  # an empty window is still reported
    assert second[0]["names"]["/a"]["s"] == [1]  # 200 ms is slower than the 50 ms threshold
    assert second[1]["names"] == {}


def test_a_request_reported_after_its_window_was_sent_is_counted_in_the_next() -> None:
    clock = Clock(1000.0)
    c = WindowCollector(0.25, clock=clock)
    c.flush(1000.30)  # slot 4000 is sent
    c.on_request(name="/late", response_time=5.0, start_time=1000.0)
    out = c.flush(1000.60)
    assert out[0]["k"] == 4001 and out[0]["names"]["/late"]["n"] == 1


def test_final_flush_sends_the_open_window() -> None:
    clock = Clock(1000.0)
    c = WindowCollector(0.25, clock=clock)
    c.on_request(name="/", response_time=1.0, start_time=1000.05)
    out = c.flush(1000.1, final=True)
    assert sum(p["names"].get("/", {}).get("n", 0) for p in out) == 1


def test_request_names_are_capped() -> None:
    clock = Clock(1000.0)
    c = WindowCollector(0.25, clock=clock)
    for i in range(MAX_NAMES + 50):
        c.on_request(name=f"/item/{i}", response_time=1.0, start_time=1000.0)
    names = c.flush(1000.5)[0]["names"]
    assert len(names) == MAX_NAMES + 1
    assert names[OTHER_NAME]["n"] == 50


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.05, max_value=5000.0, allow_nan=False), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_window_percentiles_are_within_one_percent_of_the_exact_ones(latencies_ms: list[float], q: float) -> None:
    clock = Clock(1000.0)
    c = WindowCollector(0.25, clock=clock)
    for ms in latencies_ms:  # all complete at 1000.01, in slot 4000
        c.on_request(name="/", response_time=ms, start_time=1000.01 - ms / 1000)
    payload = c.flush(1000.5)[0]["names"]["/"]
    histogram = LatencyHistogram(dict(payload["h"]))
    exact = sorted(latencies_ms)[math.floor(q * (len(latencies_ms) - 1))] / 1000
    reported = histogram.quantile(q)
    assert reported is not None
    assert abs(reported - exact) / exact < 0.01


def test_merged_payloads_equal_one_collector_seeing_everything() -> None:
    rng = random.Random(7)
    clock = Clock(1000.0)
    both = WindowCollector(0.25, (0.002,), clock=clock)
    parts = [WindowCollector(0.25, (0.002,), clock=clock) for _ in range(3)]
    for _ in range(3000):
        ms, name, fail = rng.expovariate(1.0), rng.choice("abc"), rng.random() < 0.1
        exc = RuntimeError() if fail else None
        both.on_request(name=name, response_time=ms, start_time=1000.0, exception=exc)
        rng.choice(parts).on_request(name=name, response_time=ms, start_time=1000.0, exception=exc)
    merged: dict[str, dict[str, object]] = {}
    for part in parts:
        merge_names(merged, part.flush(1000.5)[0]["names"])
    whole = both.flush(1000.5)[0]["names"]
    for name, counts in whole.items():
        m = merged[name]
        assert (m["n"], m["e"], m["s"]) == (counts["n"], counts["e"], counts["s"])
        assert dict(m["h"]) == dict(counts["h"])  # type: ignore[call-overload]


def test_pacing_interval_follows_users_and_rate() -> None:
    pacing = Pacing(rate=None, users=10)
    assert pacing.interval() is None
    pacing.rate = 200.0
    assert pacing.interval() == 0.05
    pacing.users = 40
    assert pacing.interval() == 0.2
