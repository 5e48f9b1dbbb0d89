"""Per-phase SLO verdicts. ``ThresholdJudge`` is the v1 judge: the SLI over the whole phase against the
objective, with an evidence floor so a quiet phase is never a pass.

The runner only talks to the :class:`Judge` protocol. Its default is the sequential judge
(:class:`chaoskit.slo.verdict.SequentialJudge`), which hands throughput SLOs back to this one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from chaoskit.experiment.model import LatencySlo, Slo, ThroughputSlo
from chaoskit.runner.result import Evidence, SloVerdict, Status
from chaoskit.slo.evidence import Aggregate, matches, read
from chaoskit.slo.window import Window

MIN_REQUESTS = 10
MISS_PROBABILITY = 0.05  # beta: chance of missing a breach of DETECTABLE_BURN times the error budget
DETECTABLE_BURN = 2.0
MIN_THROUGHPUT_SECONDS = 1.0


def required_requests(bad_allowed: float | None) -> int:
    """Requests needed so that a phase burning ``DETECTABLE_BURN`` x the budget shows at least one bad event
    with probability ``1 - MISS_PROBABILITY`` (for 99 %: 149 requests; for p95 latency: 29)."""
    if bad_allowed is None or bad_allowed <= 0:
        return MIN_REQUESTS
    p = min(DETECTABLE_BURN * bad_allowed, 0.999)
    return max(MIN_REQUESTS, math.ceil(math.log(MISS_PROBABILITY) / math.log1p(-p)))


class Judge(Protocol):
    def judge(
        self, slo: Slo, windows: Sequence[Window], *, phase: str, fault: str | None, during: bool, span: float
    ) -> SloVerdict: ...


class ThresholdJudge:
    """The SLI over the phase against the objective; too few requests is ``INSUFFICIENT``."""

    def judge(
        self, slo: Slo, windows: Sequence[Window], *, phase: str, fault: str | None, during: bool, span: float
    ) -> SloVerdict:
        agg = Aggregate.of(w for w in windows if matches(slo, w))
        reading = read(slo, agg, during=during, span=span)
        objective = _objective_text(slo, during)
        evidence = Evidence(requests=agg.count, errors=agg.errors, windows=agg.windows, seconds=round(span, 3))
        if isinstance(slo, ThroughputSlo):
            enough = span >= MIN_THROUGHPUT_SECONDS and agg.windows > 0
            need = f"at least {MIN_THROUGHPUT_SECONDS:g}s of observation"
        else:
            required = required_requests(reading.bad_fraction_allowed)
            enough = agg.count >= required
            need = f"{required} requests to see a {DETECTABLE_BURN:g}x burn with {1 - MISS_PROBABILITY:.0%} power"
        if reading.holds is None or (not enough and reading.holds):
            status, detail = Status.INSUFFICIENT, f"{agg.count} requests; needs {need}"
        elif reading.holds:
            status, detail = Status.MET, f"needed {need}"
        else:
            status, detail = Status.BREACHED, f"{reading.text} against {objective}"
        return SloVerdict(
            slo=slo.name,
            sli=slo.sli,
            phase=phase,
            fault=fault,
            status=status,
            objective=objective,
            observed=reading.value,
            observed_text=reading.text,
            evidence=evidence,
            detail=detail,
        )


def _objective_text(slo: Slo, during: bool) -> str:
    if isinstance(slo, LatencySlo):
        threshold = slo.during.threshold if during and slo.during else slo.threshold
        return f"p{slo.percentile:g} <= {threshold * 1000:g}ms"
    objective = slo.during.objective if during and slo.during else slo.objective
    return str(objective)
