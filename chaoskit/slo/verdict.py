"""The sequential judge: the runner's default :class:`~chaoskit.slo.judge.Judge`.

Per bad-event SLO (success rate, latency threshold) and phase:

* **baseline** — the steady-state gate (:func:`~chaoskit.slo.sequential.steady_state_gate`) over the windows in
  order, LLR divided by the dispersion measured on the same baseline: MET ("healthy") only when it accepts,
  BREACHED ("unhealthy") when it rejects, INSUFFICIENT ("undecided") otherwise. The baseline's rate, dispersion
  and per-second bins are kept for the phases that follow.
* **observe** — the fault's :class:`~chaoskit.slo.monitor.FaultMonitor` (built by :meth:`monitor` before the
  fault, fed by the runner): BREACHED ("abort") when it stopped the fault on this SLO; else BREACHED ("breach")
  when an exact one-sided test at alpha rejects "bad rate <= p0" over the phase; else MET ("held") when the
  evidence had the power to catch the SLO's burn (MDE <= burn x p0 at 1 - beta), INSUFFICIENT ("underpowered")
  otherwise. A Mann-Whitney comparison with the baseline is reported beside it.
* **recover** — the change-point detectors of :meth:`recovery`: MET ("recovered", with TTR and "confirmed at"),
  BREACHED ("breaching": censored and still over p0), INSUFFICIENT ("censored": too little evidence).

Throughput SLOs, success rates bounded from above and any other phase go to the v1
:class:`~chaoskit.slo.judge.ThresholdJudge`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaoskit.experiment.model import Experiment, Slo, ThroughputSlo
from chaoskit.runner.result import Evidence, RelativeCheck, SloVerdict, Status
from chaoskit.slo.badevents import BadEventSli, bad_event_sli
from chaoskit.slo.changepoint import ZERO_TOLERANCE_PROXY, ChangePointDetector, RecoveryState
from chaoskit.slo.cusum import BudgetGuard, CusumBank, burn_alternative
from chaoskit.slo.evidence import Aggregate, matches, read
from chaoskit.slo.judge import ThresholdJudge
from chaoskit.slo.monitor import FaultMonitor, SloWatch
from chaoskit.slo.power import binomial_sf, mde, required_requests
from chaoskit.slo.recovery import AbortGuard, RecoveryDetector, RecoveryTracker
from chaoskit.slo.relative import compare, second_bins
from chaoskit.slo.sequential import (
    NO_DISPERSION,
    Decision,
    Dispersion,
    Sprt,
    estimate_dispersion,
    steady_state_gate,
)
from chaoskit.slo.settings import FALLBACK_RATE, burn_rates, settings_for
from chaoskit.slo.window import Window


@dataclass
class Baseline:
    """What the baseline showed for one SLO."""

    rate: float  # matching requests per second
    dispersion: Dispersion
    bins: list[float] = field(default_factory=list)


class SequentialJudge:
    """Judges every phase of one run; keeps the baseline, the fault monitors and the recovery detectors."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.fallback = ThresholdJudge()
        self.baselines: dict[str, Baseline] = {}
        self.monitors: dict[str, FaultMonitor] = {}
        self.detectors: dict[str, RecoveryDetector] = {}

    # ------------------------------------------------------------------------------------------- the seams

    def monitor(self, fault: str, planned: float) -> FaultMonitor:
        """The abort monitor for a fault planned to last ``planned`` seconds (build it before injecting: the
        calibration takes a fraction of a second)."""
        guardrails = self.experiment.guardrails
        monitor = FaultMonitor(fault, guardrail=AbortGuard(guardrails.abort_when) if guardrails.abort_when else None)
        for slo in self.experiment.slos:
            sli = bad_event_sli(slo, during=True)
            if sli is None:
                continue
            settings = settings_for(slo)
            base = self.baselines.get(slo.name)
            rate = base.rate if base is not None and base.rate > 0 else FALLBACK_RATE
            bank = CusumBank.design(
                sli.p0, burns=burn_rates(guardrails), requests=max(rate * planned, 1.0), alpha=settings.alpha,
                icc=base.dispersion.icc if base is not None else 0.0, per_second=rate,
            )
            production = guardrails.production_rate or (base.rate if base is not None else None)
            strict = bad_event_sli(slo, during=False) or sli  # the budget is the real SLO's, not the relaxed one
            budget = BudgetGuard(strict.p0, production, guardrails.budget) if production else None
            monitor.watches[slo.name] = SloWatch(sli, bank, budget)
        self.monitors[fault] = monitor
        return monitor

    def recovery(self, fault: str, reverted_at: float, horizon: float) -> RecoveryDetector:
        """The recovery detector after ``fault`` was removed at ``reverted_at``; the phase lasts ``horizon``."""
        detectors: dict[str, tuple[BadEventSli, ChangePointDetector]] = {}
        others: list[Slo] = []
        for slo in self.experiment.slos:
            sli = bad_event_sli(slo, during=False)
            if sli is None:
                others.append(slo)
                continue
            settings = settings_for(slo)
            base = self.baselines.get(slo.name)
            scale = 1.0 / base.dispersion.at(base.rate) if base is not None else 1.0
            detectors[slo.name] = (
                sli, ChangePointDetector(sli.p0, reverted_at, horizon, settings.alpha, settings.beta, scale=scale)
            )
        tracker = RecoveryTracker(others, reverted_at=reverted_at, settle=self.experiment.phases.settle) \
            if others else None  # fmt: skip
        detector = RecoveryDetector(detectors, reverted_at=reverted_at, tracker=tracker)
        self.detectors[fault] = detector
        return detector

    # ------------------------------------------------------------------------------------------- the judge

    def judge(
        self, slo: Slo, windows: Sequence[Window], *, phase: str, fault: str | None, during: bool, span: float
    ) -> SloVerdict:
        sli = bad_event_sli(slo, during=during)
        if sli is None or isinstance(slo, ThroughputSlo):
            return self.fallback.judge(slo, windows, phase=phase, fault=fault, during=during, span=span)
        if phase == "baseline":
            return self._baseline(slo, sli, windows, span)
        if phase == "observe" and fault is not None:
            return self._observe(slo, sli, windows, fault, span)
        if phase == "recover" and fault is not None and fault in self.detectors:
            return self._recover(slo, sli, windows, fault, span)
        return self.fallback.judge(slo, windows, phase=phase, fault=fault, during=during, span=span)

    def gate_pending(self, windows: Sequence[Window]) -> bool:
        """Whether some SLO's steady-state gate is still undecided on these baseline windows (the runner keeps
        the baseline going while it is, up to its budget: a sequential test stops when it decides)."""
        for slo in self.experiment.slos:
            sli = bad_event_sli(slo, during=False)
            if sli is not None and self._gate(slo, sli, windows)[1] is Decision.UNDECIDED:
                return True
        return False

    @staticmethod
    def _gate(slo: Slo, sli: BadEventSli, windows: Sequence[Window]) -> tuple[Sprt, Decision, Dispersion]:
        settings = settings_for(slo)
        rows = [(w.start, c) for w in windows if (c := sli.counts(w)) is not None]
        dispersion = estimate_dispersion((t, c[0], c[1]) for t, c in rows) if rows else NO_DISPERSION
        gate = steady_state_gate(max(sli.p0, ZERO_TOLERANCE_PROXY), alpha=settings.alpha, beta=settings.beta,
                                 dispersion=dispersion.index)  # fmt: skip
        decision = Decision.ACCEPT if sli.p0 >= 1 else Decision.UNDECIDED
        for _, (count, bad) in rows:
            if decision is not Decision.UNDECIDED:
                break
            if bad and sli.p0 <= 0:
                decision = Decision.REJECT
                break
            decision = gate.update(count, bad)
        return gate, decision, dispersion

    def _baseline(self, slo: Slo, sli: BadEventSli, windows: Sequence[Window], span: float) -> SloVerdict:
        settings = settings_for(slo)
        gate, decision, dispersion = self._gate(slo, sli, windows)
        rows = [c for w in windows if (c := sli.counts(w)) is not None]
        n = sum(c[0] for c in rows)
        self.baselines[slo.name] = Baseline(n / span if span > 0 else 0.0, dispersion, second_bins(sli, windows))
        bad_total = sum(c[1] for c in rows)
        zone = f"SPRT {gate.p_low:.3g} vs {gate.p_high:.3g} bad, alpha={settings.alpha:g} beta={settings.beta:g}"
        if decision is Decision.ACCEPT:
            status, word = Status.MET, "healthy"
            detail = f"healthy accepted after {gate.decided_at or 0} requests ({zone})"
        elif decision is Decision.REJECT:
            status, word = Status.BREACHED, "unhealthy"
            detail = f"healthy rejected after {gate.decided_at or n} requests, {bad_total} {sli.noun} ({zone})"
        else:
            status, word = Status.INSUFFICIENT, "undecided"
            detail = (f"{n} requests, {bad_total} {sli.noun}: not yet shown healthy; about "
                      f"{gate.requests_to_accept()} more clean requests needed ({zone})")  # fmt: skip
        if dispersion.warning:
            detail += f"; {dispersion.warning}"
        return self._verdict(
            slo, sli, windows, phase="baseline", fault=None, during=False, span=span, status=status, detail=detail,
            decision=word, alpha=settings.alpha, beta=settings.beta, dispersion=dispersion.index,
            decided_at=gate.decided_at,
        )

    def _observe(self, slo: Slo, sli: BadEventSli, windows: Sequence[Window], fault: str, span: float) -> SloVerdict:
        settings = settings_for(slo)
        base = self.baselines.get(slo.name)
        dispersion = base.dispersion.at(base.rate) if base is not None else 1.0
        n, bad = self._counts(sli, windows)
        watch = self.monitors[fault].watches.get(slo.name) if fault in self.monitors else None
        relative = self._relative(slo.name, sli, windows)
        common: dict[str, Any] = dict(phase="observe", fault=fault, during=True, span=span, alpha=settings.alpha,
                      beta=settings.beta, dispersion=dispersion, relative=relative)  # fmt: skip
        budget = watch.budget.burned if watch is not None and watch.budget is not None else None
        if watch is not None and watch.tripped is not None:
            return self._verdict(slo, sli, windows, status=Status.BREACHED, decision="abort",
                                 detail=f"aborted: {watch.tripped.reason}", decided_at=watch.bank.n,
                                 budget_burned=budget, **common)
        if sli.p0 >= 1:
            return self._verdict(slo, sli, windows, status=Status.MET, decision="held",
                                 detail="the objective allows every request to be bad", **common)
        n_eff, bad_eff = n / dispersion, bad / dispersion
        p_value = binomial_sf(round(bad_eff), round(n_eff), sli.p0) if sli.p0 > 0 else (0.0 if bad else 1.0)
        if n and p_value <= settings.alpha:
            return self._verdict(slo, sli, windows, status=Status.BREACHED, decision="breach",
                                 detail=f"{bad} of {n} requests {sli.noun}: more than {sli.p0:.3g} allowed "
                                 f"(one-sided p={p_value:.2g} <= alpha {settings.alpha:g})",
                                 budget_burned=budget, **common)
        p0 = sli.p0 if sli.p0 > 0 else ZERO_TOLERANCE_PROXY
        target = burn_alternative(p0, settings.burn)
        detectable = mde(n_eff, p0, settings.alpha, settings.beta)
        stats: dict[str, Any] = dict(mde=detectable, burn=settings.burn, budget_burned=budget)
        if detectable <= target:
            detail = (f"no abort; {bad} of {n} {sli.noun}; would have caught a bad rate of {detectable:.3g} "
                      f"({detectable / p0:.2g}x) with power {1 - settings.beta:.0%}")  # fmt: skip
            return self._verdict(slo, sli, windows, status=Status.MET, decision="held", detail=detail,
                                 **stats, **common)
        needed = math.ceil(required_requests(p0, target, settings.alpha, settings.beta) * dispersion)
        detail = (f"{n} requests can only catch a bad rate of {detectable:.3g} ({detectable / p0:.2g}x); a "
                  f"{settings.burn:g}x burn needs {needed} (power {1 - settings.beta:.0%}, alpha {settings.alpha:g})")
        return self._verdict(slo, sli, windows, status=Status.INSUFFICIENT, decision="underpowered", detail=detail,
                             **stats, **common)

    def _recover(self, slo: Slo, sli: BadEventSli, windows: Sequence[Window], fault: str, span: float) -> SloVerdict:
        settings = settings_for(slo)
        detector = self.detectors[fault].detector(slo.name)
        if detector is None:
            return self.fallback.judge(slo, windows, phase="recover", fault=fault, during=False, span=span)
        state = detector.finish()
        common: dict[str, Any] = dict(phase="recover", fault=fault, during=False, span=span, alpha=settings.alpha,
                      beta=settings.beta, dispersion=1.0 / detector.scale)  # fmt: skip
        if state is RecoveryState.RECOVERED:
            ttr, confirmed = detector.ttr or 0.0, detector.confirmed_after or 0.0
            if detector.confirmed_by == "end look":
                detail = (f"recovered {ttr:.2f}s after the fault was removed (change point); no alarm within the "
                          f"phase, confirmed by the last look at {confirmed:.2f}s (evidence for healthy "
                          f"{detector.statistic:.2f} >= ln(1/beta) {detector.end_threshold:.2f})")  # fmt: skip
            else:
                detail = (f"recovered {ttr:.2f}s after the fault was removed (change point), confirmed at "
                          f"{confirmed:.2f}s")  # fmt: skip
            return self._verdict(slo, sli, windows, status=Status.MET, decision="recovered", detail=detail,
                                 ttr=ttr, confirmed_at=confirmed, censored=False, **common)
        if state is RecoveryState.BREACHING:
            detail = (f"no recovery within {detector.horizon:g}s: {detector.late_bad} of {detector.late_n} "
                      f"requests {sli.noun} in its second half, still over {sli.p0:.3g} (one-sided "
                      f"p={detector.late_p_value():.2g})")  # fmt: skip
            return self._verdict(slo, sli, windows, status=Status.BREACHED, decision="breaching", detail=detail,
                                 censored=True, **common)
        detail = (f"recovery not confirmed within {detector.horizon:g}s ({detector.bad} of {detector.n} "
                  f"{sli.noun}); about {detector.clean_requests_to_confirm()} more clean requests needed")
        return self._verdict(slo, sli, windows, status=Status.INSUFFICIENT, decision="censored", detail=detail,
                             censored=True, **common)

    # ----------------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _counts(sli: BadEventSli, windows: Sequence[Window]) -> tuple[int, int]:
        n = bad = 0
        for w in windows:
            counts = sli.counts(w)
            if counts is not None:
                n += counts[0]
                bad += counts[1]
        return n, bad

    def _relative(self, name: str, sli: BadEventSli, windows: Sequence[Window]) -> RelativeCheck | None:
        base = self.baselines.get(name)
        if base is None:
            return None
        c = compare(sli, base.bins, second_bins(sli, windows))
        t = c.test
        return RelativeCheck(
            metric=c.metric, baseline_bins=t.n_baseline, bins=t.n_treatment, shift=t.shift,
            ci_low=t.ci_low if math.isfinite(t.ci_low) else None,
            ci_high=t.ci_high if math.isfinite(t.ci_high) else None,
            p_value=t.p_value, classification=c.classification,
        )  # fmt: skip

    def _verdict(
        self, slo: Slo, sli: BadEventSli, windows: Sequence[Window], *, phase: str, fault: str | None, during: bool,
        span: float, status: Status, detail: str, decision: str, **stats: Any,
    ) -> SloVerdict:
        agg = Aggregate.of(w for w in windows if matches(slo, w))
        reading = read(slo, agg, during=during, span=span)
        _, bad = self._counts(sli, windows)
        return SloVerdict(
            slo=slo.name, sli=slo.sli, phase=phase, fault=fault, status=status, objective=sli.objective,
            observed=reading.value, observed_text=reading.text,
            evidence=Evidence(requests=agg.count, errors=agg.errors, windows=agg.windows, seconds=round(span, 3)),
            detail=detail, decision=decision, p0=sli.p0, bad=bad, **stats,
        )  # fmt: skip
