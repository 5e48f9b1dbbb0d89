from __future__ import annotations

from typing import Any

from chaoskit.load.merge import SlotMerger
from chaoskit.slo.histogram import LatencyHistogram

W = 0.25


def report(k: int, names: dict[str, tuple[int, int, list[int], dict[int, int]]], **extra: Any) -> dict[str, Any]:
    return {
        "k": k,
        "names": {n: {"n": c, "e": e, "s": s, "h": list(h.items())} for n, (c, e, s, h) in names.items()},
        "cpu": extra.pop("cpu", 10.0),
        "users": extra.pop("users", 5),
        "target_users": 5,
        "target_rate": extra.pop("target_rate", None),
        **extra,
    }


def test_a_slot_waits_for_every_live_child_then_merges_counts_and_histograms() -> None:
    m = SlotMerger(W, (0.1,), timeout=0.5)
    m.add(0, report(400, {"/a": (3, 1, [1], {-300: 2, -200: 1})}))
    assert m.ready(100.26, live={0, 1}) == []  # child 1 has not reported slot 400 yet
    m.add(1, report(400, {"/a": (2, 0, [0], {-300: 2}), "/b": (1, 0, [1], {-100: 1})}))
    windows = {w.name: w for w in m.ready(100.26, live={0, 1})}
    a, b = windows["/a"], windows["/b"]
    assert (a.start, a.end, a.source) == (100.0, 100.25, "load")
    assert (a.count, a.errors, a.slower) == (5, 1, {0.1: 1})
    assert a.histogram == LatencyHistogram({-300: 4, -200: 1})
    assert (b.count, b.slower) == (1, {0.1: 1})
    assert not a.limited
    assert m.last is not None and m.last.count == 6 and m.last.users == 10 and m.last.rate == 24.0


def test_an_overdue_slot_goes_out_without_the_missing_child_flagged_limited() -> None:
    m = SlotMerger(W, (), timeout=0.5)
    m.add(0, report(400, {"/a": (3, 0, [], {-300: 3})}))
    assert m.ready(100.5, live={0, 1}) == []
    (w,) = m.ready(100.76, live={0, 1})
    assert w.count == 3 and w.limited


def test_a_late_report_is_folded_into_the_next_slot_not_dropped() -> None:
    m = SlotMerger(W, (), timeout=0.5)
    m.add(0, report(400, {"/a": (3, 0, [], {-300: 3})}))
    m.ready(100.76, live={0, 1})
    m.add(1, report(400, {"/a": (2, 0, [], {-300: 2})}))
    m.add(0, report(401, {"/a": (1, 0, [], {-300: 1})}))
    m.add(1, report(401, {}))
    (w,) = m.ready(100.6, live={0, 1})
    assert w.start == 100.25 and w.count == 3 and w.limited and m.late_reports == 1


def test_a_busy_child_flags_its_windows_as_measurement_limited() -> None:
    m = SlotMerger(W, (), timeout=0.5)
    m.add(0, report(400, {"/a": (3, 0, [], {-300: 3})}, cpu=97.0))
    (w,) = m.ready(100.3, live={0})
    assert w.limited


def test_a_known_name_with_no_requests_in_a_slot_gets_a_zero_window() -> None:
    m = SlotMerger(W, (0.5,), timeout=0.5)
    m.add(0, report(400, {"/a": (3, 0, [0], {-300: 3})}))
    m.add(0, report(401, {}))
    windows = m.ready(100.6, live={0})
    assert [(w.start, w.name, w.count, w.slower) for w in windows] == [
        (100.0, "/a", 3, {0.5: 0}),
        (100.25, "/a", 0, {0.5: 0}),
    ]


def test_drain_sends_everything_left() -> None:
    m = SlotMerger(W, (), timeout=0.5)
    m.add(0, report(400, {"/a": (1, 0, [], {-300: 1})}))
    m.add(0, report(401, {"/a": (1, 0, [], {-300: 1})}))
    assert [w.count for w in m.drain()] == [1, 1]
    assert m.drain() == []


def test_a_child_that_started_later_is_not_waited_for_in_slots_before_its_first() -> None:
    m = SlotMerger(W, (), timeout=0.5)
    m.expect(0, 400)
    m.expect(1, 402)
    m.add(0, report(400, {"/a": (1, 0, [], {-300: 1})}))
    m.add(0, report(401, {"/a": (1, 0, [], {-300: 1})}))
    m.add(0, report(402, {"/a": (1, 0, [], {-300: 1})}))
    windows = m.ready(100.6, live={0, 1})
    assert [(w.start, w.limited) for w in windows] == [(100.0, False), (100.25, False)]  # 402 waits for child 1
    m.add(1, report(402, {"/a": (2, 0, [], {-300: 2})}))
    (w,) = m.ready(100.8, live={0, 1})
    assert w.count == 3 and not w.limited
