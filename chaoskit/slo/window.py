"""``Window``: the one record every source of evidence emits (load children, probes).

A window covers ``[start, end)`` wall-clock seconds for one source and request name. The SLO engine only ever
sees windows, so evidence from anywhere merges the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit.slo.histogram import LatencyHistogram


@dataclass
class Window:
    """Counts observed by one source over ``[start, end)``.

    ``slower`` maps a latency threshold in seconds (as declared by an SLO) to the number of requests slower
    than it, counted exactly at the source.
    """

    start: float
    end: float
    source: str
    name: str
    count: int = 0
    errors: int = 0
    slower: dict[float, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    limited: bool = False

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "name": self.name,
            "count": self.count,
            "errors": self.errors,
            "slower": {repr(k): v for k, v in self.slower.items()},
            "histogram": self.histogram.to_json(),
            "limited": self.limited,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            source=str(data["source"]),
            name=str(data["name"]),
            count=int(data["count"]),
            errors=int(data["errors"]),
            slower={float(k): int(v) for k, v in data.get("slower", {}).items()},
            histogram=LatencyHistogram.from_json(data.get("histogram", {})),
            limited=bool(data.get("limited", False)),
        )


def single_observation(
    *, source: str, name: str, start: float, end: float, ok: bool, latency: float, thresholds: tuple[float, ...]
) -> Window:
    """The window of one request or probe call (how probes report)."""
    histogram = LatencyHistogram()
    histogram.record(latency)
    return Window(
        start=start,
        end=end,
        source=source,
        name=name,
        count=1,
        errors=0 if ok else 1,
        slower={t: int(latency > t) for t in thresholds},
        histogram=histogram,
    )
