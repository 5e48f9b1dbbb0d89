"""Master mode: the windows Locust workers report (custom messages), merged per slot, and when a slot may go out.

A slot goes out as soon as every connected worker has reported it (after it closed), or :data:`FORWARD_TIMEOUT`
after it closed without the slow ones (``partial``). A report for a slot already sent is folded into the oldest
open one (``late``), as the collector folds late requests: counts are never lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

from chaoskit.load.collector import merge_names

FORWARD_TIMEOUT = 0.25
"""How long a closed slot waits for a slow worker before it is sent without it."""


class WorkerSlots:
    """Worker reports merged per slot of ``width`` seconds; ``grace`` after a slot's end it is closed."""

    def __init__(self, width: float, grace: float, *, timeout: float = FORWARD_TIMEOUT) -> None:
        self.width = width
        self.grace = grace
        self.timeout = timeout
        self.next_slot = math.floor(time.time() / width)
        """The oldest slot not sent yet."""
        self._slots: dict[int, dict[str, Any]] = {}
        self._cpu_mark = (time.time(), time.process_time())

    def restart(self, now: float) -> None:
        """Slots start from the current one (the load is about to start)."""
        self.next_slot = math.floor(now / self.width)

    def add(self, worker: str, data: dict[str, Any]) -> bool:
        """Merge one worker's report; True when it is for the oldest open slot (which may now be complete)."""
        k = int(data["k"])
        late = k < self.next_slot
        if late:
            k = self.next_slot
        slot = self._slots.setdefault(k, {"names": {}, "cpu": 0.0, "users": {}, "from": set(), "late": False})
        merge_names(slot["names"], data["names"])
        slot["cpu"] = max(slot["cpu"], float(data.get("cpu", 0.0)))
        slot["users"][worker] = int(data.get("users", 0))
        slot["from"].add(worker)
        slot["late"] = slot["late"] or late
        return k == self.next_slot

    def _closes(self, k: int) -> float:
        """When slot ``k`` closes: its end plus the grace for late requests."""
        return (k + 1) * self.width + self.grace

    def wait(self, now: float) -> float:
        """Seconds until the oldest open slot may go out if no report completes it first (0 when it may now)."""
        closes = self._closes(self.next_slot)
        due = closes if now < closes else closes + self.timeout
        return max(due - now, 0.0)

    def ready(self, now: float, workers: set[str], *, final: bool = False) -> Iterator[dict[str, Any]]:
        """The slots that may go out at ``now`` (with ``final``: every slot up to now and every one reported),
        oldest first, each as window fields: ``k``, ``names``, ``cpu`` (the most of the workers' and this
        process's), ``users``, ``workers``, ``partial`` (a worker did not report), ``late``."""
        while True:
            k = self.next_slot
            closes = self._closes(k)
            if final:
                if k * self.width > now and not any(s >= k for s in self._slots):
                    return
            elif now < closes:
                return
            slot = self._slots.get(k)
            complete = workers <= (slot["from"] if slot is not None else set())
            if not final and not complete and now < closes + self.timeout:
                return
            self._slots.pop(k, None)
            self.next_slot += 1
            wall, cpu = time.time(), time.process_time()
            own_cpu = 100.0 * (cpu - self._cpu_mark[1]) / max(wall - self._cpu_mark[0], 1e-3)
            self._cpu_mark = (wall, cpu)
            yield {
                "k": k,
                "names": slot["names"] if slot else {},
                "cpu": round(max(own_cpu, slot["cpu"] if slot else 0.0), 1),
                "users": sum(slot["users"].values()) if slot else 0,
                "workers": len(workers),
                "partial": not complete,
                "late": bool(slot and slot["late"]),
            }
