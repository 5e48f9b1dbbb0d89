"""Master mode: worker reports merged per slot, sent when complete or when the slow worker's time is up."""

from __future__ import annotations

from typing import Any

import pytest

from chaoskit.load.slots import WorkerSlots

WIDTH, GRACE = 0.25, 0.03


def report(k: int, n: int, users: int = 3, cpu: float = 10.0) -> dict[str, Any]:
    return {"k": k, "names": {"/": {"n": n, "e": 0, "s": [0], "h": [[-300, n]]}}, "cpu": cpu, "users": users}


def slots_at(k: int) -> WorkerSlots:
    s = WorkerSlots(WIDTH, GRACE)
    s.restart(k * WIDTH)
    return s


def test_a_slot_goes_out_once_every_worker_reported_it_and_it_closed() -> None:
    s = slots_at(100)
    closes = 101 * WIDTH + GRACE
    assert s.add("a", report(100, 5)) is True
    assert list(s.ready(closes, {"a", "b"})) == []  # b has not reported, and its time is not up
    assert s.add("b", report(100, 7, users=4, cpu=55.0))
    assert list(s.ready(closes - 0.01, {"a", "b"})) == []  # complete, but not closed yet
    [window] = list(s.ready(closes, {"a", "b"}))
    assert window["k"] == 100 and window["names"]["/"]["n"] == 12
    assert [list(p) for p in window["names"]["/"]["h"]] == [[-300, 12]]
    assert (window["users"], window["workers"], window["partial"], window["late"]) == (7, 2, False, False)
    assert window["cpu"] >= 55.0
    assert s.next_slot == 101


def test_a_slow_worker_is_waited_for_only_until_the_timeout() -> None:
    s = slots_at(100)
    closes = 101 * WIDTH + GRACE
    s.add("a", report(100, 5))
    assert s.wait(closes - 0.1) == pytest.approx(0.1)  # open: it may go out when it closes
    assert s.wait(closes) == pytest.approx(s.timeout)  # closed: now it waits for b at most the timeout
    assert list(s.ready(closes + s.timeout - 0.001, {"a", "b"})) == []
    [window] = list(s.ready(closes + s.timeout, {"a", "b"}))
    assert window["partial"] and window["names"]["/"]["n"] == 5


def test_a_late_report_is_folded_into_the_oldest_open_slot() -> None:
    s = slots_at(100)
    list(s.ready(101 * WIDTH + GRACE + s.timeout, {"a"}))  # slot 100 went out empty
    assert s.next_slot == 101
    assert s.add("a", report(100, 9))  # for slot 100, counted in 101
    [window] = list(s.ready(102 * WIDTH + GRACE, {"a"}))
    assert window["k"] == 101 and window["late"] and window["names"]["/"]["n"] == 9


def test_final_sends_every_reported_slot_and_stops_at_the_present() -> None:
    s = slots_at(100)
    s.add("a", report(100, 1))
    s.add("a", report(102, 2))  # a slot still open, already reported
    windows = list(s.ready(100.5 * WIDTH, {"a", "b"}, final=True))
    assert [w["k"] for w in windows] == [100, 101, 102]
    assert [w["names"].get("/", {}).get("n", 0) for w in windows] == [1, 0, 2]
