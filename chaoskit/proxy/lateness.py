"""How late the latency toxic releases data against its due time, as a fixed-bucket histogram.

Each release of a latency stage observes ``released - due`` (seconds; negative when early). The histogram is
what tells the proxy's own timing error apart from the host's and the client's: a client sees both, the proxy
sees only its own. ``GET /metrics`` (with ``--metrics``) shows it as ``chaoskit_proxy_latency_lateness_seconds``.
"""

from __future__ import annotations

from bisect import bisect_left

# Upper bounds (seconds). Fine steps around zero, where a proxy that gets its CPU releases; coarse ones for the
# lateness a stalled process or host adds.
BOUNDS: tuple[float, ...] = (
    -0.001, -0.0005, -0.00025, 0.0, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005,
    0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
METRIC = "chaoskit_proxy_latency_lateness_seconds"


class Lateness:
    """Counts of releases per bucket (the last one is +Inf), and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.total += seconds

    def prometheus(self, labels: str) -> list[str]:
        """The histogram's sample lines (cumulative ``_bucket``, ``_sum``, ``_count``) with ``labels``."""
        lines = []
        running = 0
        for bound, n in zip((*BOUNDS, float("inf")), self.counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{METRIC}_bucket{{{labels},le="{le}"}} {running}')
        lines.append(f"{METRIC}_sum{{{labels}}} {self.total!r}")
        lines.append(f"{METRIC}_count{{{labels}}} {running}")
        return lines
