"""The runner: an asyncio phase machine.

preflight → warmup → baseline → for each fault: [inject → observe → revert → recover] → teardown

Evidence (probe calls, load windows) flows into one list of windows the whole time; each phase is a time span
over it, judged by a :class:`~chaoskit.slo.judge.Judge`. Faults go through the ledger before they touch anything
and are reverted in ``finally`` whatever happens (error, abort, SIGINT/SIGTERM, max_duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.errors import ChaoskitError, FaultError
from chaoskit.experiment.model import Experiment, FaultSpec
from chaoskit.plugins import Plugins
from chaoskit.registry import Fault, LoadGenerator, Probe
from chaoskit.runner.context import RunContext
from chaoskit.runner.journal import Journal
from chaoskit.runner.ledger import Ledger, LedgerEntry
from chaoskit.runner.processes import ProcessGroup
from chaoskit.runner.result import FaultRecord, Outcome, RunResult, SloVerdict, Status
from chaoskit.runner.rollbacks import run_rollbacks
from chaoskit.slo.judge import Judge
from chaoskit.slo.monitor import Abort, FaultMonitor
from chaoskit.slo.recovery import AbortGuard, Recovery, RecoveryDetector, RecoveryTracker
from chaoskit.slo.verdict import SequentialJudge
from chaoskit.slo.window import Window, single_observation

Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class _Phase:
    name: str
    fault: str | None
    start: float
    end: float | None = None


@dataclass
class _Active:
    fault: Fault
    entry: LedgerEntry | None
    record: FaultRecord


@dataclass
class _State:
    windows: list[Window] = field(default_factory=list)
    phases: list[_Phase] = field(default_factory=list)
    active: list[_Active] = field(default_factory=list)
    verdicts: list[SloVerdict] = field(default_factory=list)
    records: list[FaultRecord] = field(default_factory=list)
    guard: FaultMonitor | None = None
    abort: asyncio.Event | None = None
    abort_reason: str | None = None
    abort_detail: Abort | None = None
    tracker: RecoveryTracker | RecoveryDetector | None = None
    recovered: asyncio.Event | None = None
    recovery: Recovery | None = None


class Runner:
    """Runs one experiment. ``await Runner(...).run()`` returns the :class:`RunResult`; it never raises for
    anything the experiment or the target does (those become outcomes)."""

    def __init__(
        self,
        experiment: Experiment,
        plugins: Plugins,
        *,
        source: str | Path | None = None,
        state_dir: str | Path = ".chaoskit",
        run_id: str | None = None,
        judge: Judge | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.experiment = experiment
        self.plugins = plugins
        self.source = str(source) if source is not None else None
        self.base_dir = Path(source).resolve().parent if source is not None else Path.cwd()
        self.state_dir = Path(state_dir).resolve()
        self.run_id = run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.run_dir = self.state_dir / "runs" / self.run_id
        self.judge = judge or SequentialJudge(experiment)
        self.listeners = list(listeners or [])
        self.ledger = Ledger(self.state_dir)
        self.journal = Journal(self.run_dir)
        self.ctx = RunContext(
            run_id=self.run_id,
            experiment=experiment,
            base_dir=self.base_dir,
            state_dir=self.state_dir,
            registry=plugins.registry,
            processes=ProcessGroup(experiment.target.processes, base_dir=self.base_dir, log_dir=self.run_dir),
            hook=plugins.hook,
        )
        self.state = _State()
        self._probes: list[Probe] = []
        self._outcome: tuple[Outcome, str] | None = None

    # ------------------------------------------------------------------------------------------------ events

    def emit(self, event: str, **data: Any) -> None:
        self.journal.write(event, **data)
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener(event, data)

    def _hook(self, name: str, **kwargs: Any) -> None:
        try:
            getattr(self.plugins.hook, name)(run=self.ctx, **kwargs)
        except Exception as exc:  # a broken plugin never stops a revert
            self.emit("note", message=f"plugin hook {name} failed: {exc}")

    def on_window(self, window: Window) -> None:
        self.state.windows.append(window)
        self.emit("window", window=window.to_json())
        self._hook("chaoskit_window", window=window)
        if self.state.guard is not None and self.state.abort is not None and not self.state.abort.is_set():
            abort = self.state.guard.feed(window)
            if abort is not None:  # the episode wakes on this event and reverts at once
                self.state.abort_reason, self.state.abort_detail = abort.reason, abort
                self.state.abort.set()
        self._feed_tracker(window)

    # ------------------------------------------------------------------------------------------------ phases

    @contextlib.asynccontextmanager
    async def phase(self, name: str, fault: str | None = None) -> Any:
        record = _Phase(name, fault, time.time())
        self.state.phases.append(record)
        self.emit("phase_start", phase=name, fault=fault)
        self._hook("chaoskit_phase_start", phase=name, fault=fault)
        try:
            yield record
        finally:
            record.end = time.time()
            self.emit("phase_finish", phase=name, fault=fault)
            self._hook("chaoskit_phase_finish", phase=name, fault=fault)

    def judge_phase(self, phase: _Phase, *, during: bool) -> list[SloVerdict]:
        end = phase.end if phase.end is not None else time.time()
        windows = [w for w in self.state.windows if w.start >= phase.start - 1e-6 and w.end <= end + 1e-6]
        verdicts = [
            self.judge.judge(slo, windows, phase=phase.name, fault=phase.fault, during=during, span=end - phase.start)
            for slo in self.experiment.slos
        ]
        for v in verdicts:
            self.state.verdicts.append(v)
            self.emit("verdict", verdict=v.to_json())
            self._hook("chaoskit_verdict", verdict=v)
        return verdicts

    # --------------------------------------------------------------------------------------------------- run

    async def run(self) -> RunResult:
        started = time.time()
        self.emit("run_start", run_id=self.run_id, title=self.experiment.title, source=self.source,
                  experiment=self.experiment.model_dump(mode="json"))
        self._hook("chaoskit_run_start")
        evidence: list[asyncio.Task[None]] = []
        load: LoadGenerator | None = None
        proxies: Any = None
        try:
            async with asyncio.timeout(self.experiment.guardrails.max_duration):
                async with self.phase("preflight"):
                    proxies, load, probes = await self._preflight()
                evidence = [asyncio.create_task(self._probe_loop(name, p, e)) for name, p, e in probes]
                if load is not None:
                    evidence.append(asyncio.create_task(self._load_loop(load)))
                await self._body()
        except TimeoutError:
            self._set(Outcome.INTERRUPTED, f"guardrails.max_duration of {self.experiment.guardrails.max_duration:g}s "
                      "reached")
        except asyncio.CancelledError:
            self._set(Outcome.INTERRUPTED, "interrupted by a signal; every fault was reverted")
        except ChaoskitError as exc:
            self._set(Outcome.ERROR, str(exc))
        except Exception as exc:  # a bug must still not leave a fault behind
            self._set(Outcome.ERROR, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            await asyncio.shield(self._teardown(evidence, load, proxies))
        outcome, reason = self._outcome or self._conclude()
        result = RunResult(
            run_id=self.run_id,
            title=self.experiment.title,
            source=self.source,
            outcome=outcome,
            reason=reason,
            started_at=started,
            finished_at=time.time(),
            verdicts=list(self.state.verdicts),
            faults=list(self.state.records),
            journal=str(self.journal.path),
        )
        self.journal.finish(result)
        self._hook("chaoskit_run_finish", result=result)
        return result

    def _set(self, outcome: Outcome, reason: str) -> None:
        # a fault left behind (ERROR) outranks an SLO breach: an abort comes first, its revert may still fail
        if (self._outcome is None or self._outcome[0] in (Outcome.INCONCLUSIVE, Outcome.PASSED)
                or (outcome is Outcome.ERROR and self._outcome[0] is Outcome.FAILED)):
            self._outcome = (outcome, reason)

    async def _preflight(self) -> tuple[Any, LoadGenerator | None, list[tuple[str, Probe, float]]]:
        exp = self.experiment
        took = await self.ctx.processes.start_all()
        for name, seconds in took.items():
            self.emit("note", message=f"target {name} ready in {seconds:.2f}s")
        proxies = None
        if exp.proxies:
            from chaoskit.proxy.runtime import open_proxies

            proxies = await open_proxies(exp)
            self.ctx.services["proxy"] = proxies
        if str(self.base_dir) not in sys.path:  # python probes import modules beside the experiment
            sys.path.insert(0, str(self.base_dir))
        probes = [(spec.name, self.ctx.registry.probes[spec.type].create(spec), spec.every) for spec in exp.probes]
        self._probes = [probe for _, probe, _ in probes]
        load = None
        if exp.load is not None:
            load = self.ctx.registry.load_generators[exp.load.generator].create(exp, self.ctx)
        for spec in exp.faults:  # every target must resolve before anything is broken
            await asyncio.to_thread(self.ctx.registry.faults[spec.type].create, spec, self.ctx)
        return proxies, load, probes

    async def _body(self) -> None:
        phases = self.experiment.phases
        if phases.warmup:
            async with self.phase("warmup"):
                await asyncio.sleep(phases.warmup)
        if phases.baseline:
            async with self.phase("baseline") as baseline:
                await asyncio.sleep(phases.baseline)
                await self._await_gates(baseline)
            verdicts = self.judge_phase(baseline, during=False)
            breached = [v for v in verdicts if v.status is Status.BREACHED]
            if breached:
                v = breached[0]
                self._set(Outcome.ERROR, f"target not healthy before injection: SLO {v.slo} {v.observed_text} "
                          f"against {v.objective} in baseline ({v.evidence.requests} requests); nothing injected")
                return
            if any(v.status is Status.INSUFFICIENT for v in verdicts):
                v = next(v for v in verdicts if v.status is Status.INSUFFICIENT)
                # the gate must accept "healthy" before anything is broken: not shown healthy is not healthy
                self._set(Outcome.ERROR, f"target not shown healthy before injection: SLO {v.slo}: {v.detail}; "
                          "lengthen the baseline or raise the load; nothing injected")
                return
        for spec in self.experiment.faults:
            await self._episode(spec)

    async def _await_gates(self, baseline: _Phase) -> None:
        """A sequential gate stops when it decides: past ``phases.baseline`` the baseline goes on while one is
        undecided, up to ``guardrails.baseline_budget`` (default 3 x the baseline)."""
        pending = getattr(self.judge, "gate_pending", None)
        if pending is None:
            return
        budget = self.experiment.guardrails.baseline_budget or 3 * self.experiment.phases.baseline
        while time.time() - baseline.start < budget:
            windows = [w for w in self.state.windows if w.start >= baseline.start - 1e-6]
            if not pending(windows):
                return
            await asyncio.sleep(min(0.25, max(budget - (time.time() - baseline.start), 0.0)))

    # ----------------------------------------------------------------------------------------------- episode

    async def _episode(self, spec: FaultSpec) -> None:
        kind = self.ctx.registry.faults[spec.type]
        monitor = await asyncio.to_thread(self._monitor, spec)  # calibrated before anything is broken
        async with self.phase("inject", spec.name):
            if spec.start:
                await asyncio.sleep(spec.start)
            faults = await asyncio.to_thread(kind.create, spec, self.ctx)
            for fault in faults:
                await self._inject(spec, fault)
        state = self.state
        state.guard = monitor
        state.abort, state.abort_reason, state.abort_detail = asyncio.Event(), None, None
        try:
            async with self.phase("observe", spec.name) as observe:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.abort.wait(), timeout=spec.duration)
        finally:
            state.guard = None
        if state.abort_reason is not None:
            abort = state.abort_detail
            evidence = abort.to_json() if abort is not None else {}
            self.emit("abort", fault=spec.name, **{"reason": state.abort_reason, **evidence})
            for active in state.active:
                active.record.aborted, active.record.abort_reason = True, state.abort_reason
                active.record.abort_evidence = evidence or None
            if abort is not None and abort.slo is not None:
                self._set(Outcome.FAILED, f"SLO {abort.slo} broke during fault {spec.name}: aborted at once, "
                          f"{state.abort_reason}")
            else:
                self._set(Outcome.FAILED, f"fault {spec.name} aborted by guardrail: {state.abort_reason}")
        async with self.phase("revert", spec.name):
            reverted_at = time.time()
            await self._revert_all()
        verdicts = self.judge_phase(observe, during=True)
        for v in verdicts:
            if v.status is Status.BREACHED:
                self._set(Outcome.FAILED, f"SLO {v.slo} broke during fault {spec.name}: {v.observed_text} against "
                          f"{v.objective} ({v.evidence.requests} requests, {v.evidence.errors} errors)")
        await self._recover(spec, reverted_at)

    async def _inject(self, spec: FaultSpec, fault: Fault) -> None:
        record = FaultRecord(name=spec.name, type=spec.type, target=fault.target)
        self.state.records.append(record)
        entry = self.ledger.open(run_id=self.run_id, fault=spec.name, kind=spec.type, target=fault.target,
                                 undo=fault.undo())
        record.ledger_id = entry.id
        active = _Active(fault, entry, record)
        self.state.active.append(active)  # before inject: a half-done inject is still reverted
        try:
            await fault.inject()
        except ChaoskitError as exc:
            record.error = str(exc)
            self.emit("fault_error", fault=spec.name, target=fault.target, error=str(exc))
            raise FaultError(f"fault {spec.name} could not be injected into {fault.target}: {exc}",
                             fault=spec.name, target=fault.target) from exc
        except OSError as exc:
            record.error = str(exc)
            raise FaultError(f"fault {spec.name} could not be injected into {fault.target}: {exc}",
                             fault=spec.name, target=fault.target) from exc
        record.injected_at = time.time()
        self.emit("fault_injected", fault=spec.name, type=spec.type, target=fault.target, ledger=entry.id)
        self._hook("chaoskit_fault_injected", fault=fault, spec_name=spec.name)

    async def _revert_all(self) -> None:
        """Revert every active fault, newest first; a failure is recorded and the others still revert."""
        while self.state.active:
            active = self.state.active.pop()
            record = active.record
            try:
                await active.fault.revert()
                await active.fault.verify_reverted()
            except (ChaoskitError, OSError) as exc:
                record.error = f"revert failed: {exc}"
                self.emit("fault_error", fault=record.name, target=record.target, error=record.error)
                self._set(Outcome.ERROR, f"fault {record.name} on {record.target} could not be reverted: {exc}; "
                          "run `chaoskit recover`")
                self._hook("chaoskit_fault_reverted", fault=active.fault, spec_name=record.name, verified=False)
                continue
            record.reverted_at, record.verified = time.time(), True
            if active.entry is not None:
                self.ledger.close(active.entry.id)
            observed = active.fault.observations()
            record.observations = observed or None
            if observed.get("finding"):
                self._set(Outcome.FAILED, f"fault {record.name} on {record.target}: {observed['finding']}")
            self.emit("fault_reverted", fault=record.name, target=record.target, verified=True,
                      observations=record.observations)
            self._hook("chaoskit_fault_reverted", fault=active.fault, spec_name=record.name, verified=True)

    async def _recover(self, spec: FaultSpec, reverted_at: float) -> None:
        state = self.state
        records = [r for r in state.records if r.name == spec.name]
        if not (self.experiment.probes or self.experiment.load) or not self.experiment.phases.recovery:
            return  # no evidence source, or no recovery phase asked for: recovery is not measured
        horizon = self.experiment.phases.recovery
        make = getattr(self.judge, "recovery", None)
        detector: RecoveryDetector | None = make(spec.name, reverted_at, horizon) if make is not None else None
        state.tracker = detector or RecoveryTracker(self.experiment.slos, reverted_at=reverted_at,
                                                    settle=self.experiment.phases.settle)
        state.recovered, state.recovery = asyncio.Event(), None
        for w in [w for w in state.windows if w.end >= reverted_at]:
            self._feed_tracker(w)
        try:
            async with self.phase("recover", spec.name) as recover:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.recovered.wait(), timeout=horizon)
        finally:
            state.tracker = None
        recovery = state.recovery
        still = []
        if detector is not None:  # the change-point detectors judge the phase: TTR, confirmation, censoring
            detector.finish()
            recovery = recovery or detector.recovery()  # confirmed by the end-of-phase test
            still = [v for v in self.judge_phase(recover, during=False) if v.status is Status.BREACHED]
        for r in records:
            r.recovered = recovery is not None
            r.recovery_seconds = round(recovery.ttr, 3) if recovery is not None else None
            if recovery is not None and recovery.confirmed_at is not None:
                r.recovery_confirmed_after = round(recovery.confirmed_at - reverted_at, 3)
            r.recovery_censored = recovery is None
        if recovery is None and (detector is None or still):
            because = f": SLO {still[0].slo} {still[0].detail}" if still else ""
            self._set(Outcome.FAILED, f"no recovery within {horizon:g}s after fault {spec.name} was reverted"
                      f"{because}")
            self.emit("recovered", fault=spec.name, recovered=False, censored=True)
        elif recovery is None:  # censored without evidence of a breach: the recover verdicts are INSUFFICIENT
            self.emit("recovered", fault=spec.name, recovered=False, censored=True)
        else:
            self.emit("recovered", fault=spec.name, recovered=True, ttr=recovery.ttr, at=recovery.recovered_at,
                      confirmed_at=recovery.confirmed_at)

    def _monitor(self, spec: FaultSpec) -> FaultMonitor:
        make = getattr(self.judge, "monitor", None)
        if make is not None:
            monitor: FaultMonitor = make(spec.name, spec.duration)
            return monitor
        rule = self.experiment.guardrails.abort_when
        return FaultMonitor(spec.name, guardrail=AbortGuard(rule) if rule is not None else None)

    def _feed_tracker(self, window: Window) -> None:
        if self.state.tracker is not None and self.state.recovered is not None and not self.state.recovered.is_set():
            recovery = self.state.tracker.feed(window)
            if recovery is not None:
                self.state.recovery = recovery
                self.state.recovered.set()

    # ---------------------------------------------------------------------------------------------- evidence

    async def _probe_loop(self, name: str, probe: Probe, every: float) -> None:
        thresholds = self.experiment.thresholds
        while True:
            began_wall, began = time.time(), time.monotonic()
            observation = await probe.observe()
            self.on_window(
                single_observation(source=name, name=name, start=began_wall, end=time.time(), ok=observation.ok,
                                   latency=observation.latency, thresholds=thresholds)
            )
            await asyncio.sleep(max(every - (time.monotonic() - began), 0.0))

    async def _load_loop(self, load: LoadGenerator) -> None:
        try:
            async for window in load.windows():
                self.on_window(window)
        except ChaoskitError as exc:  # a crashed child or a bad locustfile: the evidence stops, say so
            self.emit("note", message=f"load generator failed: {exc}")
            self._set(Outcome.ERROR, f"load generator failed: {exc}")
        else:  # teardown cancels this task first, so the load ended on its own (a locustfile's shape, its bound)
            self.emit("note", message="the load ended before the run did: no more load evidence from here on")

    # ---------------------------------------------------------------------------------------------- teardown

    async def _teardown(self, evidence: list[asyncio.Task[None]], load: LoadGenerator | None, proxies: Any) -> None:
        async with self.phase("teardown"):
            await self._revert_all()
            for task in evidence:
                task.cancel()
            for task in evidence:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for probe in self._probes:
                with contextlib.suppress(Exception):
                    await probe.close()
            if load is not None:
                with contextlib.suppress(Exception):
                    await load.stop()
            if proxies is not None:
                try:
                    await proxies.close()
                except Exception as exc:
                    self.emit("note", message=f"closing proxies failed: {exc}")
            await self.ctx.processes.stop_all()
            for name, error in await run_rollbacks(self.experiment.rollbacks, base_dir=self.base_dir):
                self.emit("note", message=f"rollback {name} failed: {error}")
                self._set(Outcome.ERROR, f"rollback {name} failed: {error}")

    def _conclude(self) -> tuple[Outcome, str]:
        insufficient = [v for v in self.state.verdicts if v.status is Status.INSUFFICIENT]
        if insufficient:
            v = insufficient[0]
            return Outcome.INCONCLUSIVE, f"too little evidence for SLO {v.slo} in {v.phase}: {v.detail}"
        if not self.state.verdicts:
            return Outcome.INCONCLUSIVE, "no SLO was judged: declare slos and an evidence source (probes or load)"
        n = len({v.slo for v in self.state.verdicts})
        return Outcome.PASSED, f"all {n} SLOs held in every phase and the system recovered after each fault"
