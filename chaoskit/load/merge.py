"""Merging the window reports of several load children into :class:`~chaoskit.slo.window.Window` records.

Every child reports every window slot (empty ones too), in order. Slot ``k`` is sent on as soon as every live
child has reported it, or ``timeout`` seconds after it closed, whatever comes first; it then becomes one
``Window`` per request name: names seen in earlier slots get a zero-count window, because "no request to
/checkout completed" is evidence too. A window is ``limited`` (measurement-limited) when a child contributing to
it ran above ``cpu_limit`` % CPU, when a child did not report in time, or when it carries late reports: its
numbers describe the load generator as much as the target.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from chaoskit.slo.histogram import LatencyHistogram
from chaoskit.slo.window import Window

CPU_LIMIT = 85.0
MAX_NAMES = 1000


@dataclass
class _Counts:
    count: int = 0
    errors: int = 0
    slower: list[int] = field(default_factory=list)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass
class _Slot:
    names: dict[str, _Counts] = field(default_factory=dict)
    cpu: float = 0.0
    users: int = 0
    target_users: int = 0
    target_rate: float | None = None
    reported: set[int] = field(default_factory=set)
    limited: bool = False


@dataclass(frozen=True)
class SlotSummary:
    """What the load looked like in one merged slot (for status displays and the achieved-rate SLI)."""

    start: float
    end: float
    count: int
    errors: int
    users: int
    target_users: int
    target_rate: float | None
    cpu: float
    limited: bool
    children: int

    @property
    def rate(self) -> float:
        return self.count / max(self.end - self.start, 1e-9)


class SlotMerger:
    """Merges child reports (protocol ``window`` messages) per slot; see the module docstring."""

    def __init__(
        self,
        width: float,
        thresholds: tuple[float, ...],
        *,
        source: str = "load",
        timeout: float = 0.5,
        cpu_limit: float = CPU_LIMIT,
    ) -> None:
        self.width = width
        self.thresholds = tuple(thresholds)
        self.source = source
        self.timeout = timeout
        self.cpu_limit = cpu_limit
        self.known: dict[str, None] = {}
        self.late_reports = 0
        self.last: SlotSummary | None = None
        self._slots: dict[int, _Slot] = {}
        self._next: int | None = None
        self._reported_up_to: dict[int, int] = {}
        self._first: dict[int, int] = {}

    def expect(self, child: int, first_slot: int) -> None:
        """``child`` reports from ``first_slot`` on: earlier slots do not wait for it (children start apart)."""
        self._first[child] = first_slot

    def add(self, child: int, report: dict[str, Any]) -> None:
        k = int(report["k"])
        self._reported_up_to[child] = max(k, self._reported_up_to.get(child, k))
        if self._next is None:
            self._next = k
        late = k < self._next
        if late:  # that slot is already sent: fold the counts into the oldest open slot rather than drop them
            self.late_reports += 1
            k = self._next
        slot = self._slots.get(k)
        if slot is None:
            slot = self._slots[k] = _Slot()
        slot.reported.add(child)
        slot.cpu = max(slot.cpu, float(report.get("cpu") or 0.0))
        slot.users += int(report.get("users") or 0)
        slot.target_users += int(report.get("target_users") or 0)
        if report.get("target_rate") is not None:
            slot.target_rate = (slot.target_rate or 0.0) + float(report["target_rate"])
        slot.limited = slot.limited or late or bool(report.get("partial")) or bool(report.get("late"))
        for name, c in report["names"].items():
            if name not in self.known and len(self.known) < MAX_NAMES:
                self.known[name] = None
            counts = slot.names.get(name)
            if counts is None:
                counts = slot.names[name] = _Counts(slower=[0] * len(self.thresholds))
            counts.count += int(c["n"])
            counts.errors += int(c["e"])
            for i, n in enumerate(c["s"][: len(self.thresholds)]):
                counts.slower[i] += int(n)
            counts.histogram.merge(LatencyHistogram({int(key): int(n) for key, n in c["h"]}))

    def next_deadline(self) -> float | None:
        """Wall-clock time by which the oldest open slot is sent even if a child is missing."""
        return None if self._next is None else (self._next + 1) * self.width + self.timeout

    def ready(self, now: float, live: Collection[int]) -> list[Window]:
        """Windows of every slot complete for ``live`` children, or overdue at ``now``, oldest first."""
        out: list[Window] = []
        if self._next is None:
            return out
        overdue_below = math.floor((now - self.timeout) / self.width)
        while True:
            k = self._next
            complete = all(self._reported_up_to.get(c, k - 1) >= k or self._first.get(c, k) > k for c in live)
            if not (complete and live) and k >= overdue_below:
                return out
            out.extend(self._emit(k, complete=complete and bool(live)))

    def drain(self) -> list[Window]:
        """Everything still open (at the end of the load), oldest first."""
        out: list[Window] = []
        while self._next is not None and self._slots and self._next <= max(self._slots):
            out.extend(self._emit(self._next, complete=True))
        return out

    def _emit(self, k: int, *, complete: bool) -> list[Window]:
        assert self._next == k
        self._next = k + 1
        slot = self._slots.pop(k, None) or _Slot()
        limited = slot.limited or not complete or slot.cpu > self.cpu_limit
        start, end = k * self.width, (k + 1) * self.width
        windows = []
        for name in {**self.known, **dict.fromkeys(slot.names)}:
            counts = slot.names.get(name) or _Counts(slower=[0] * len(self.thresholds))
            windows.append(
                Window(
                    start=start,
                    end=end,
                    source=self.source,
                    name=name,
                    count=counts.count,
                    errors=counts.errors,
                    slower=dict(zip(self.thresholds, counts.slower, strict=True)),
                    histogram=counts.histogram,
                    limited=limited,
                )
            )
        self.last = SlotSummary(
            start=start,
            end=end,
            count=sum(c.count for c in slot.names.values()),
            errors=sum(c.errors for c in slot.names.values()),
            users=slot.users,
            target_users=slot.target_users,
            target_rate=slot.target_rate,
            cpu=slot.cpu,
            limited=limited,
            children=len(slot.reported),
        )
        return windows
