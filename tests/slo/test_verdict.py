"""The sequential judge on synthetic windows: gate, abort, end-of-phase test, power, recovery, reporting."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from chaoskit.experiment.model import Experiment
from chaoskit.report.text import render_text
from chaoskit.runner.result import Outcome, RunResult, SloVerdict, Status
from chaoskit.slo.verdict import SequentialJudge
from chaoskit.slo.window import Window

AVAILABILITY = {"name": "availability", "sli": "success_rate", "objective": ">= 99%"}
LATENCY = {"name": "fast", "sli": "latency", "percentile": 95, "threshold": "200ms", "during": {"threshold": "1s"}}


def experiment(*slos: dict[str, object], **guardrails: object) -> Experiment:
    return Experiment.model_validate({"version": 1, "title": "t", "slos": list(slos), "guardrails": guardrails})


def windows(start: float, seconds: float, *, per_window: int = 25, bad: Iterable[int] = (0,),
            slow: Iterable[int] | None = None, width: float = 0.25) -> list[Window]:  # fmt: skip
    """Quarter-second windows of ``per_window`` requests; ``bad`` (errors) and ``slow`` (> 200 ms, > 1 s) cycle."""
    bad_cycle, slow_cycle = list(bad), list(slow) if slow is not None else [0]
    out = []
    for i in range(round(seconds / width)):
        s = slow_cycle[i % len(slow_cycle)]
        out.append(Window(start + i * width, start + (i + 1) * width, "load", "/", per_window,
                          bad_cycle[i % len(bad_cycle)], {0.2: s, 1.0: 0}))  # fmt: skip
    return out


def judge_baseline(judge: SequentialJudge, exp: Experiment, ws: list[Window]) -> list[SloVerdict]:
    return [judge.judge(slo, ws, phase="baseline", fault=None, during=False, span=ws[-1].end - ws[0].start)
            for slo in exp.slos]  # fmt: skip


def test_the_gate_accepts_rejects_or_stays_undecided() -> None:
    exp = experiment(AVAILABILITY, LATENCY)
    healthy = judge_baseline(SequentialJudge(exp), exp, windows(0, 10, per_window=25))  # 1,000 clean requests
    assert [(v.status, v.decision) for v in healthy] == [(Status.MET, "healthy")] * 2
    assert healthy[0].decided_at is not None and healthy[0].decided_at < 1000 and healthy[0].alpha == 0.01
    short = judge_baseline(SequentialJudge(exp), exp, windows(0, 2, per_window=25))  # 200 requests
    assert (short[0].status, short[0].decision) == (Status.INSUFFICIENT, "undecided")
    assert "more clean requests" in short[0].detail
    sick = judge_baseline(SequentialJudge(exp), exp, windows(0, 10, bad=(1,)))  # 4 % failing
    assert (sick[0].status, sick[0].decision) == (Status.BREACHED, "unhealthy")
    slow = judge_baseline(SequentialJudge(exp), exp, windows(0, 10, slow=(5,)))  # 20 % slower than 200 ms
    assert (slow[1].status, slow[1].bad) == (Status.BREACHED, 200) and slow[0].status is Status.MET


def test_a_failing_fault_is_aborted_by_the_bank_and_judged_abort() -> None:
    exp = experiment(AVAILABILITY)
    judge = SequentialJudge(exp)
    judge_baseline(judge, exp, windows(0, 10, per_window=25))  # 100 requests/s
    monitor = judge.monitor("f", planned=300)
    assert monitor.watches["availability"].bank.requests == pytest.approx(30_000)
    fault = windows(10, 30, bad=(2, 3, 2, 3, 3))  # about 10 % failing
    abort = next(a for w in fault if (a := monitor.feed(w)) is not None)
    assert abort.kind == "cusum" and abort.slo == "availability"
    assert abort.window["errors"] > 0 and abort.evidence["requests"] <= 250  # Table A: 88 requests on average
    assert "detector crossed its threshold" in abort.reason
    seen = fault[: fault.index(next(w for w in fault if w.start == abort.window["start"])) + 1]
    v = judge.judge(exp.slos[0], seen, phase="observe", fault="f", during=True, span=seen[-1].end - 10)
    assert (v.status, v.decision) == (Status.BREACHED, "abort") and v.decided_at == abort.evidence["requests"]


def test_a_steady_small_excess_is_a_breach_at_the_end_of_the_phase() -> None:
    exp = experiment(AVAILABILITY)
    judge = SequentialJudge(exp)
    judge_baseline(judge, exp, windows(0, 10, per_window=100))
    monitor = judge.monitor("f", planned=200)
    fault = windows(10, 200, per_window=100, bad=(1, 1, 2, 1, 1, 2, 1, 1, 2, 1))  # 1.3 %: too slow for the bank
    assert all(monitor.feed(w) is None for w in fault)
    v = judge.judge(exp.slos[0], fault, phase="observe", fault="f", during=True, span=200)
    assert (v.status, v.decision) == (Status.BREACHED, "breach") and "p=" in v.detail


def test_a_pass_carries_its_power_and_too_little_evidence_is_underpowered() -> None:
    exp = experiment(AVAILABILITY, {**AVAILABILITY, "name": "strict", "burn": 2})
    judge = SequentialJudge(exp)
    judge_baseline(judge, exp, windows(0, 10))
    judge.monitor("f", planned=10)
    fault = windows(10, 10)  # 1,000 clean requests: MDE 3.0 % at alpha 1 %, beta 5 %
    held, strict = (judge.judge(s, fault, phase="observe", fault="f", during=True, span=10) for s in exp.slos)
    assert (held.status, held.decision) == (Status.MET, "held")
    assert held.mde == pytest.approx(0.0263, rel=0.05) and held.burn == 5 and held.beta == 0.05
    assert (strict.status, strict.decision) == (Status.INSUFFICIENT, "underpowered") and "needs" in strict.detail
    assert held.relative is not None and held.relative.classification == "same"


def test_relative_check_sees_a_latency_shift_the_slo_allows() -> None:
    exp = experiment(LATENCY)
    judge = SequentialJudge(exp)
    base = windows(0, 10)
    for w in base:
        w.histogram.record(0.010, w.count)
    judge_baseline(judge, exp, base)
    judge.monitor("f", planned=10)
    fault = windows(10, 10, slow=(25,))  # everything slower than 200 ms, but within the relaxed 1 s
    for w in fault:
        w.histogram.record(0.300, w.count)
    v = judge.judge(exp.slos[0], fault, phase="observe", fault="f", during=True, span=10)
    assert v.status is Status.MET and v.objective == "p95 <= 1000ms"
    assert v.relative is not None and v.relative.classification == "worse" and v.relative.shift > 250


def test_recovery_reports_ttr_and_confirmation() -> None:
    exp = experiment(AVAILABILITY)
    judge = SequentialJudge(exp)
    judge_baseline(judge, exp, windows(0, 10))
    detector = judge.recovery("f", reverted_at=100.0, horizon=30.0)
    recovery = None
    for w in windows(100, 2, bad=(5,)) + windows(102, 28):  # 20 % failing for 2 s, then clean
        recovery = recovery or detector.feed(w)
    assert recovery is not None and recovery.ttr == pytest.approx(2.0, abs=0.26)
    assert recovery.confirmed_at is not None and recovery.confirmed_at > 102
    v = judge.judge(exp.slos[0], windows(100, 30), phase="recover", fault="f", during=False, span=30)
    assert (v.status, v.decision, v.censored) == (Status.MET, "recovered", False)
    assert v.ttr == pytest.approx(recovery.ttr) and v.confirmed_at == pytest.approx(recovery.confirmed_at - 100)


def test_throughput_slos_keep_the_threshold_judge() -> None:
    exp = experiment({"name": "rate", "sli": "throughput", "objective": ">= 10/s"})
    v = SequentialJudge(exp).judge(exp.slos[0], windows(0, 5), phase="baseline", fault=None, during=False, span=5)
    assert v.status is Status.MET and v.decision is None


def test_verdicts_round_trip_through_json_and_render() -> None:
    exp = experiment(AVAILABILITY)
    judge = SequentialJudge(exp)
    verdicts = judge_baseline(judge, exp, windows(0, 10))
    judge.monitor("f", planned=10)
    verdicts.append(judge.judge(exp.slos[0], windows(10, 10), phase="observe", fault="f", during=True, span=10))
    result = RunResult("r", "t", None, Outcome.PASSED, "ok", 0.0, 1.0, verdicts=verdicts)
    data = json.loads(json.dumps(result.to_json()))
    assert RunResult.from_json(data).verdicts == verdicts
    assert data["verdicts"][1]["decision"] == "held" and data["verdicts"][1]["mde"] > 0
    text = render_text(result)
    assert "held" in text and "a/b=1%/5%" in text and "MDE=" in text and "relative:" in text
