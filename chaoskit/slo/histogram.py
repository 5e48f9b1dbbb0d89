"""A mergeable latency histogram with bounded relative error (the DDSketch bucketing).

Bucket ``k`` holds values in ``(gamma**(k-1), gamma**k]`` seconds; a quantile is reported as the bucket's
midpoint in relative terms, so every reported value is within ``(gamma - 1) / (gamma + 1)`` (< 1 %) of a true
sample. Histograms from any source merge by adding bucket counts, which is what lets windows from many load
children and probes be combined exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

GAMMA = 1.02
RELATIVE_ACCURACY = (GAMMA - 1) / (GAMMA + 1)
_LOG_GAMMA = math.log(GAMMA)
_MIN_VALUE = 1e-6  # one microsecond: anything faster lands in the lowest bucket


class LatencyHistogram:
    """Counts of latencies (seconds) in log-spaced buckets."""

    __slots__ = ("buckets", "count")

    def __init__(self, buckets: Mapping[int, int] | None = None) -> None:
        self.buckets: dict[int, int] = dict(buckets or {})
        self.count = sum(self.buckets.values())

    @staticmethod
    def key(seconds: float) -> int:
        return math.ceil(math.log(max(seconds, _MIN_VALUE)) / _LOG_GAMMA)

    def record(self, seconds: float, n: int = 1) -> None:
        k = self.key(seconds)
        self.buckets[k] = self.buckets.get(k, 0) + n
        self.count += n

    def merge(self, other: LatencyHistogram) -> None:
        for k, n in other.buckets.items():
            self.buckets[k] = self.buckets.get(k, 0) + n
        self.count += other.count

    @classmethod
    def merged(cls, histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
        out = cls()
        for h in histograms:
            out.merge(h)
        return out

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) in seconds, or None when empty."""
        if not self.count:
            return None
        rank = q * (self.count - 1)
        seen = 0
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen > rank:
                return 2 * GAMMA**k / (GAMMA + 1)
        return 2 * GAMMA ** max(self.buckets) / (GAMMA + 1)

    def count_above(self, seconds: float) -> int:
        """Requests slower than ``seconds`` (exact to the bucket holding the threshold)."""
        edge = self.key(seconds)
        return sum(n for k, n in self.buckets.items() if k > edge)

    def to_json(self) -> dict[str, int]:
        return {str(k): n for k, n in self.buckets.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> LatencyHistogram:
        return cls({int(k): int(n) for k, n in data.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencyHistogram) and self.buckets == other.buckets

    def __repr__(self) -> str:
        return f"LatencyHistogram(count={self.count}, p50={self.quantile(0.5)})"
