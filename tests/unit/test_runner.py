"""The phase machine with fake faults and probes: outcomes, ledger, journal, reverts on every path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from chaoskit.runner.engine import Runner
from chaoskit.runner.journal import read_events
from chaoskit.runner.ledger import Ledger
from chaoskit.runner.result import Outcome, Status
from tests.unit.runner_helpers import AVAILABILITY, FAST_PHASES, PROBE, build, fake_plugins


def run(tmp_path: Path, **data: object) -> tuple[object, object]:
    plugins, fakes = fake_plugins()
    exp = build(plugins, **data)
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    return result, fakes


def test_a_harmless_fault_passes_with_verdicts_per_phase(tmp_path: Path) -> None:
    result, fakes = run(
        tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
        faults=[{"name": "f", "type": "fake", "duration": "0.6s", "params": {"breaks_probe": False}}],
    )
    assert result.outcome is Outcome.PASSED, result.reason
    phases = [(v.phase, v.status) for v in result.verdicts]
    # the sequential judge also judges the recovery phase (TTR per SLO)
    assert phases == [("baseline", Status.MET), ("observe", Status.MET), ("recover", Status.MET)]
    baseline, observe, recover = result.verdicts
    assert baseline.decision == "healthy" and observe.decision == "held" and recover.decision == "recovered"
    assert observe.mde is not None and observe.mde <= observe.burn * observe.p0 and observe.alpha and observe.beta
    assert recover.ttr is not None and recover.confirmed_at is not None and recover.censored is False
    assert [e[1] for e in fakes.events] == ["inject", "revert"]
    assert result.faults[0].verified and result.faults[0].recovered
    assert Ledger(tmp_path).open_entries() == []


def test_a_breaking_fault_fails_naming_slo_phase_and_evidence(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
        faults=[{"name": "outage", "type": "fake", "duration": "0.5s"}],
    )
    assert result.outcome is Outcome.FAILED
    assert "SLO availability broke during fault outage" in result.reason
    breach = result.breaches()[0]
    assert breach.phase == "observe" and breach.fault == "outage" and breach.evidence.errors > 0
    assert breach.observed is not None and breach.observed < 0.9


def test_relaxed_during_objective_lets_a_partial_outage_pass(tmp_path: Path) -> None:
    plugins, fakes = fake_plugins()
    calls = iter(range(10**9))
    fakes.healthy = lambda: not fakes.injected or next(calls) % 4 != 0  # 25 % errors while injected
    slo = {**AVAILABILITY, "during": {"objective": ">= 50%"}}
    exp = build(plugins, probes=[PROBE], slos=[slo], phases=FAST_PHASES,
                faults=[{"name": "f", "type": "fake", "duration": "0.6s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert result.outcome is Outcome.PASSED, result.reason
    observe = next(v for v in result.verdicts if v.phase == "observe")
    assert 0.5 < observe.observed < 0.9


def test_guardrail_aborts_the_fault_early(tmp_path: Path) -> None:
    # the relaxed objective allows anything, so only the declared guardrail can abort
    result, fakes = run(
        tmp_path, probes=[PROBE], slos=[{**AVAILABILITY, "during": {"objective": ">= 0%"}}], phases=FAST_PHASES,
        guardrails={"abort_when": {"success_rate": "< 50%", "over": "0.2s", "min_requests": 5}},
        faults=[{"name": "outage", "type": "fake", "duration": "30s"}],
    )
    assert result.outcome is Outcome.FAILED
    assert "aborted by guardrail" in result.reason
    inject, revert = fakes.events[0][0], fakes.events[1][0]
    assert revert - inject < 2.0  # not the 30 s planned
    assert result.faults[0].aborted


def test_unhealthy_baseline_is_error_and_injects_nothing(tmp_path: Path) -> None:
    plugins, fakes = fake_plugins()
    fakes.healthy = lambda: False
    exp = build(plugins, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                faults=[{"name": "f", "type": "fake", "duration": "1s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert result.outcome is Outcome.ERROR
    assert "not healthy before injection" in result.reason
    assert fakes.events == []


def test_a_breaching_fault_is_aborted_at_once_with_its_evidence_journaled(tmp_path: Path) -> None:
    result, fakes = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                        faults=[{"name": "outage", "type": "fake", "duration": "30s"}])
    assert result.outcome is Outcome.FAILED
    assert "SLO availability broke during fault outage: aborted" in result.reason
    inject, revert = fakes.events[0][0], fakes.events[1][0]
    assert revert - inject < 1.0  # not the 30 s planned
    [abort] = [e for e in read_events(result.journal) if e["event"] == "abort"]
    assert abort["kind"] == "cusum" and abort["slo"] == "availability"
    assert abort["window"]["errors"] > 0 and abort["evidence"]["bad"] >= 1 and abort["evidence"]["detectors"]
    observe = next(v for v in result.verdicts if v.phase == "observe")
    assert observe.status is Status.BREACHED and observe.decision == "abort"
    assert result.faults[0].aborted and result.faults[0].abort_evidence


def test_too_little_evidence_during_the_fault_is_inconclusive(tmp_path: Path) -> None:
    # a healthy baseline, then a fault too short for its ~20 requests to have caught a 2x burn (20 % failing)
    result, _ = run(tmp_path, probes=[PROBE], slos=[{**AVAILABILITY, "burn": 2}], phases=FAST_PHASES,
                    faults=[{"name": "f", "type": "fake", "duration": "0.1s", "params": {"breaks_probe": False}}])
    assert result.outcome is Outcome.INCONCLUSIVE, result.reason
    assert "needs" in result.reason
    observe = next(v for v in result.verdicts if v.phase == "observe")
    assert observe.status is Status.INSUFFICIENT and observe.decision == "underpowered"
    assert observe.mde is not None and observe.mde > observe.burn * observe.p0


def test_the_baseline_goes_on_until_the_gate_decides(tmp_path: Path) -> None:
    # ~35 requests in 0.2 s cannot show 90 % healthy (the gate needs ~55): the baseline runs on, within 3 x 0.2 s
    result, _ = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases={**FAST_PHASES, "baseline": "0.2s"},
                        faults=[{"name": "f", "type": "fake", "duration": "0.6s", "params": {"breaks_probe": False}}])
    assert result.outcome is Outcome.PASSED, result.reason
    baseline = result.verdicts[0]
    assert baseline.decision == "healthy" and 0.2 < baseline.evidence.seconds <= 0.65
    assert baseline.decided_at is not None and baseline.decided_at > 40


def test_a_baseline_not_shown_healthy_is_error_and_injects_nothing(tmp_path: Path) -> None:
    # was INCONCLUSIVE with the v1 judge; the gate must accept "healthy" before a fault, else ERROR (issue 7)
    slow_probe = {**PROBE, "every": "0.5s"}
    strict = {**AVAILABILITY, "objective": ">= 99.9%"}
    result, fakes = run(tmp_path, probes=[slow_probe], slos=[strict], phases=FAST_PHASES,
                        faults=[{"name": "f", "type": "fake", "duration": "0.5s", "params": {"breaks_probe": False}}])
    assert result.outcome is Outcome.ERROR
    assert "not shown healthy before injection" in result.reason and "more clean requests" in result.reason
    assert fakes.events == []
    assert result.verdicts[0].decision == "undecided"


def test_no_recovery_fails_with_the_recovery_window_named(tmp_path: Path) -> None:
    plugins, fakes = fake_plugins()
    state = {"broken": False}

    def healthy() -> bool:
        if fakes.injected:
            state["broken"] = True  # the fault leaves lasting damage
        return not state["broken"]

    fakes.healthy = healthy
    exp = build(plugins, probes=[PROBE], slos=[{**AVAILABILITY, "during": {"objective": ">= 0%"}}],
                phases={**FAST_PHASES, "recovery": "0.8s"}, faults=[{"name": "f", "type": "fake", "duration": "0.3s"}])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path).run())
    assert result.outcome is Outcome.FAILED
    assert "no recovery within 0.8s" in result.reason
    assert result.faults[0].recovered is False and result.faults[0].recovery_censored
    recover = next(v for v in result.verdicts if v.phase == "recover")
    assert recover.decision == "breaching" and recover.censored


def test_an_unconfirmed_recovery_is_inconclusive_not_failed(tmp_path: Path) -> None:
    # healthy after revert, but 0.1 s of recovery is too little traffic to confirm it
    result, _ = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases={**FAST_PHASES, "recovery": "0.1s"},
                    faults=[{"name": "f", "type": "fake", "duration": "0.6s", "params": {"breaks_probe": False}}])
    assert result.outcome is Outcome.INCONCLUSIVE, result.reason
    recover = next(v for v in result.verdicts if v.phase == "recover")
    assert recover.status is Status.INSUFFICIENT and recover.decision == "censored" and recover.censored
    assert result.faults[0].recovery_censored


def test_failed_inject_is_error_and_still_reverted(tmp_path: Path) -> None:
    result, fakes = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                        faults=[{"name": "f", "type": "fake", "duration": "1s", "params": {"fail_inject": True}}])
    assert result.outcome is Outcome.ERROR
    assert "could not be injected" in result.reason
    assert [e[1] for e in fakes.events] == ["inject", "revert"]
    assert Ledger(tmp_path).open_entries() == []


def test_failed_revert_keeps_the_ledger_entry_open(tmp_path: Path) -> None:
    result, _ = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                    faults=[{"name": "f", "type": "fake", "duration": "0.2s", "params": {"fail_revert": True}}])
    assert result.outcome is Outcome.ERROR
    assert "chaoskit recover" in result.reason
    [entry] = Ledger(tmp_path).open_entries()
    assert entry.fault == "f" and entry.kind == "fake"


def test_cancel_reverts_and_reports_interrupted(tmp_path: Path) -> None:
    plugins, fakes = fake_plugins()
    exp = build(plugins, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                faults=[{"name": "f", "type": "fake", "duration": "60s"}])

    async def main() -> object:
        task = asyncio.ensure_future(Runner(exp, plugins, state_dir=tmp_path).run())
        while not fakes.injected:
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            raise AssertionError("the runner must turn cancellation into an INTERRUPTED result") from None

    result = asyncio.run(main())
    assert result.outcome is Outcome.INTERRUPTED
    assert not fakes.injected
    assert Ledger(tmp_path).open_entries() == []


def test_max_duration_interrupts(tmp_path: Path) -> None:
    result, fakes = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                        guardrails={"max_duration": "1s"},
                        faults=[{"name": "f", "type": "fake", "duration": "60s", "params": {"breaks_probe": False}}])
    assert result.outcome is Outcome.INTERRUPTED
    assert "max_duration" in result.reason
    assert not fakes.injected


def test_journal_records_the_story_and_result_json(tmp_path: Path) -> None:
    result, _ = run(tmp_path, probes=[PROBE], slos=[AVAILABILITY], phases=FAST_PHASES,
                    faults=[{"name": "f", "type": "fake", "duration": "0.3s", "params": {"breaks_probe": False}}])
    events = read_events(result.journal)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_finish"
    for needed in ("phase_start", "window", "fault_injected", "fault_reverted", "verdict", "recovered"):
        assert needed in kinds
    phases = [e["phase"] for e in events if e["event"] == "phase_start"]
    assert phases == ["preflight", "baseline", "inject", "observe", "revert", "recover", "teardown"]
    saved = json.loads((Path(result.journal).parent / "result.json").read_text())
    assert saved["outcome"] == "passed" and saved["exit_code"] == 0
