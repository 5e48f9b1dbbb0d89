"""Synthetic runs for reporter tests and the report benchmark: a journal as the runner writes it (load windows from
several children every slot, probe calls, phases, faults, verdicts) and the matching RunResult, from a seed."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.runner.journal import JOURNAL_FILE, RESULT_FILE
from chaoskit.runner.result import Evidence, FaultRecord, Outcome, RunResult, SloVerdict, Status
from chaoskit.slo.histogram import LatencyHistogram

T0 = 1_700_000_000.0
NAMES = ("/products", "/products/[id]", "/checkout")
THRESHOLDS = (0.1, 1.0)


@dataclass(frozen=True)
class FaultPlan:
    name: str
    start: float  # seconds after the run started
    duration: float
    type: str = "network.latency"
    target: str = "proxy store"
    extra_latency: float = 0.15
    error_rate: float = 0.0
    abort_after: float | None = None  # the guardrail aborts this long after injection
    ttr: float | None = 0.8  # None: never recovers
    revert_error: str | None = None


@dataclass
class SyntheticRun:
    seconds: float = 30.0
    rate: float = 200.0  # requests per second over all children and names
    children: int = 1
    width: float = 0.25
    names: Sequence[str] = NAMES
    baseline: tuple[float, float] = (2.0, 10.0)
    faults: Sequence[FaultPlan] = (FaultPlan("store-latency", 12.0, 8.0),)
    probe_every: float | None = 1.0
    samples_per_window: int | None = None  # cap latency samples per window (a benchmark keeps generation fast)
    title: str = "The shop keeps serving products when its store is slow"
    source: str | None = None
    seed: int = 7
    experiment: dict[str, Any] | None = None
    verdicts: list[SloVerdict] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------------- events

    def fault_at(self, t: float) -> FaultPlan | None:
        for f in self.faults:
            end = f.start + (f.abort_after if f.abort_after is not None else f.duration)
            if f.start <= t < end:
                return f
        return None

    def window(self, rng: random.Random, start: float, name: str, count: int) -> dict[str, Any]:
        fault = self.fault_at(start - T0)
        histogram = LatencyHistogram()
        errors = 0
        samples = min(count, self.samples_per_window or count)
        weight = count / samples if samples else 0
        slower = dict.fromkeys(THRESHOLDS, 0)
        for i in range(samples):
            latency = rng.lognormvariate(-4.6, 0.5)  # ~10 ms median
            if fault is not None:
                latency += fault.extra_latency * rng.uniform(0.9, 1.1)
            n = round(weight * (i + 1)) - round(weight * i)
            histogram.record(latency, n)
            for threshold in THRESHOLDS:
                slower[threshold] += n * (latency > threshold)
            if fault is not None and rng.random() < fault.error_rate:
                errors += n
        return {
            "start": start, "end": start + self.width, "source": "load", "name": name, "count": histogram.count,
            "errors": errors, "slower": {repr(k): v for k, v in slower.items()}, "histogram": histogram.to_json(),
            "limited": False,
        }

    def events(self) -> list[dict[str, Any]]:
        rng = random.Random(self.seed)
        out: list[dict[str, Any]] = []

        def emit(t: float, event: str, **data: Any) -> None:
            out.append({"t": T0 + t, "event": event, **data})

        emit(0.0, "run_start", run_id="synthetic-run", title=self.title, source=self.source,
             **({"experiment": self.experiment} if self.experiment is not None else {}))
        timed: list[tuple[float, str, dict[str, Any]]] = []
        b0, b1 = self.baseline
        timed += [(0.0, "phase_start", {"phase": "preflight", "fault": None}),
                  (0.5, "phase_finish", {"phase": "preflight", "fault": None}),
                  (b0, "phase_start", {"phase": "baseline", "fault": None}),
                  (b1, "phase_finish", {"phase": "baseline", "fault": None})]
        for f in self.faults:
            stop = f.start + (f.abort_after if f.abort_after is not None else f.duration)
            timed += [(f.start, "phase_start", {"phase": "observe", "fault": f.name}),
                      (f.start + 0.001, "fault_injected", {"fault": f.name, "type": f.type, "target": f.target,
                                                           "ledger": f"ledger-{f.name}"})]
            if f.abort_after is not None:
                timed.append((stop, "abort", {"fault": f.name, "reason": "success rate 41.00% < 50% over 3s"}))
            timed.append((stop, "phase_finish", {"phase": "observe", "fault": f.name}))
            if f.revert_error:
                timed.append((stop + 0.01, "fault_error", {"fault": f.name, "target": f.target,
                                                          "error": f.revert_error}))
            else:
                timed.append((stop + 0.01, "fault_reverted", {"fault": f.name, "target": f.target, "verified": True}))
            timed.append((stop + 0.02, "phase_start", {"phase": "recover", "fault": f.name}))
            if f.ttr is not None:
                timed += [(stop + 0.02 + f.ttr + 1.0, "phase_finish", {"phase": "recover", "fault": f.name}),
                          (stop + 0.03 + f.ttr + 1.0, "recovered", {"fault": f.name, "recovered": True, "ttr": f.ttr,
                                                                    "at": T0 + stop + 0.01 + f.ttr})]
            else:
                timed += [(stop + 10.0, "phase_finish", {"phase": "recover", "fault": f.name}),
                          (stop + 10.01, "recovered", {"fault": f.name, "recovered": False})]
        timed.append((1.0, "note", {"message": "target store ready in 0.21s"}))
        slot = self.width
        per_window = self.rate * slot / self.children / len(self.names)
        k = 0
        while (k + 1) * slot <= self.seconds:
            start = T0 + k * slot
            for _child in range(self.children):
                for name in self.names:
                    count = max(0, round(rng.gauss(per_window, per_window ** 0.5)))
                    timed.append((start - T0 + slot + 0.01, "window", {"window": self.window(rng, start, name, count)}))
            k += 1
        if self.probe_every:
            t = 0.6
            while t < self.seconds:
                h = LatencyHistogram()
                h.record(0.002)
                timed.append((t + 0.002, "window", {"window": {
                    "start": T0 + t, "end": T0 + t + 0.002, "source": "health", "name": "health", "count": 1,
                    "errors": 0, "slower": {repr(x): 0 for x in THRESHOLDS}, "histogram": h.to_json()}}))
                t += self.probe_every
        for t, event, data in sorted(timed, key=lambda x: x[0]):
            emit(t, event, **data)
        emit(self.seconds, "phase_start", phase="teardown", fault=None)
        emit(self.seconds + 0.3, "phase_finish", phase="teardown", fault=None)
        return out

    # ---------------------------------------------------------------------------------------------- result

    def result(self, outcome: Outcome = Outcome.PASSED, reason: str = "all 2 SLOs held") -> RunResult:
        faults = []
        for f in self.faults:
            stop = f.start + (f.abort_after if f.abort_after is not None else f.duration)
            faults.append(FaultRecord(
                name=f.name, type=f.type, target=f.target, ledger_id=f"ledger-{f.name}",
                injected_at=T0 + f.start + 0.001, reverted_at=None if f.revert_error else T0 + stop + 0.01,
                verified=f.revert_error is None, aborted=f.abort_after is not None,
                abort_reason="success rate 41.00% < 50% over 3s" if f.abort_after is not None else None,
                recovery_seconds=f.ttr, recovered=f.ttr is not None, error=f.revert_error,
            ))
        return RunResult(
            run_id="synthetic-run", title=self.title, source=self.source, outcome=outcome, reason=reason,
            started_at=T0, finished_at=T0 + self.seconds + 0.3, verdicts=list(self.verdicts) or self.default_verdicts(),
            faults=faults, journal=None,
        )

    def default_verdicts(self) -> list[SloVerdict]:
        b = self.baseline[1] - self.baseline[0]
        out = [
            verdict("reads-available", "success_rate", "baseline", None, Status.MET, ">= 99%", 1.0, "100.00%", b),
            verdict("reads-fast", "latency", "baseline", None, Status.MET, "p95 <= 100ms", 0.0108, "p95 10.8ms", b),
        ]
        for f in self.faults:
            out += [
                verdict("reads-available", "success_rate", "observe", f.name, Status.MET, ">= 99%", 1.0, "100.00%",
                        f.duration),
                verdict("reads-fast", "latency", "observe", f.name, Status.MET, "p95 <= 1000ms", 0.314,
                        "p95 314.0ms", f.duration),
            ]
        return out

    def write(self, run_dir: Path, outcome: Outcome = Outcome.PASSED, reason: str = "all 2 SLOs held") -> RunResult:
        """Write ``journal.jsonl`` and ``result.json`` as a finished run leaves them."""
        run_dir.mkdir(parents=True, exist_ok=True)
        journal = run_dir / JOURNAL_FILE
        with journal.open("w", encoding="utf-8") as fh:
            for event in self.events():
                fh.write(json.dumps(event) + "\n")
        result = self.result(outcome, reason)
        result.journal = str(journal)
        (run_dir / RESULT_FILE).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
        return result


def verdict(slo: str, sli: str, phase: str, fault: str | None, status: Status, objective: str,
            observed: float | None, text: str, seconds: float, requests: int = 692, errors: int = 0,
            detail: str = "") -> SloVerdict:
    return SloVerdict(slo=slo, sli=sli, phase=phase, fault=fault, status=status, objective=objective,
                      observed=observed, observed_text=text,
                      evidence=Evidence(requests=requests, errors=errors, windows=int(seconds * 4), seconds=seconds),
                      detail=detail)
