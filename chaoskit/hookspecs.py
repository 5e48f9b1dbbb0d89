"""Every chaoskit hook. Implement them with ``@chaoskit.hookimpl`` in a module or object registered through the
``chaoskit`` entry-point group (see docs/plugins.md).

Registry hooks are called once, implementation by implementation, when a plugin manager is built (a plugin
registered later does not add kinds). Lifecycle hooks are notifications;
an exception raised by one is reported and does not stop the run (faults are still reverted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from chaoskit.registry import Fault, Registry
    from chaoskit.runner.context import RunContext
    from chaoskit.runner.result import RunResult, SloVerdict
    from chaoskit.slo.window import Window

hookspec = pluggy.HookspecMarker("chaoskit")

# -------------------------------------------------------------------------------------------------------------
# Registry hooks: called once per plugin manager, before any experiment is loaded.
# -------------------------------------------------------------------------------------------------------------


@hookspec
def chaoskit_register_faults(register: Registry) -> None:
    """Add fault kinds with ``register.add_fault(FaultKind(...))``.

    :param register: the registry of the plugin manager being built.
    """


@hookspec
def chaoskit_register_probes(register: Registry) -> None:
    """Add probe kinds with ``register.add_probe(ProbeKind(...))``.

    :param register: the registry of the plugin manager being built.
    """


@hookspec
def chaoskit_register_load_generators(register: Registry) -> None:
    """Add load generators with ``register.add_load_generator(LoadGeneratorKind(...))``.

    :param register: the registry of the plugin manager being built.
    """


@hookspec
def chaoskit_register_reporters(register: Registry) -> None:
    """Add report formats with ``register.add_reporter(ReporterKind(...))``.

    :param register: the registry of the plugin manager being built.
    """


# -------------------------------------------------------------------------------------------------------------
# Lifecycle hooks: called by the runner as an experiment runs, in this order.
# -------------------------------------------------------------------------------------------------------------


@hookspec
def chaoskit_run_start(run: RunContext) -> None:
    """A run begins: the experiment is valid, nothing has been started yet.

    :param run: the run's context (experiment, run id, journal path).
    """


@hookspec
def chaoskit_phase_start(run: RunContext, phase: str, fault: str | None) -> None:
    """A phase begins (``preflight``, ``warmup``, ``baseline``, ``inject``, ``observe``, ``revert``, ``recover``,
    ``teardown``).

    :param phase: the phase name.
    :param fault: the fault this phase belongs to, or None outside fault episodes.
    """


@hookspec
def chaoskit_phase_finish(run: RunContext, phase: str, fault: str | None) -> None:
    """A phase ended (normally or not).

    :param phase: the phase name.
    :param fault: the fault this phase belongs to, or None.
    """


@hookspec
def chaoskit_fault_injected(run: RunContext, fault: Fault, spec_name: str) -> None:
    """A fault was injected; its ledger entry is already on disk.

    :param fault: the injected fault.
    :param spec_name: the ``name`` of the fault in the experiment.
    """


@hookspec
def chaoskit_fault_reverted(run: RunContext, fault: Fault, spec_name: str, verified: bool) -> None:
    """A fault was reverted.

    :param fault: the reverted fault.
    :param spec_name: the ``name`` of the fault in the experiment.
    :param verified: whether the revert was verified (the fault is gone).
    """


@hookspec
def chaoskit_window(run: RunContext, window: Window) -> None:
    """A window of evidence closed (from a probe or a load generator). Called often: keep it cheap.

    :param window: the closed window.
    """


@hookspec
def chaoskit_verdict(run: RunContext, verdict: SloVerdict) -> None:
    """An SLO verdict for one phase was reached.

    :param verdict: the SLO, phase, observed value and evidence.
    """


@hookspec
def chaoskit_run_finish(run: RunContext, result: RunResult) -> None:
    """The run finished: every fault is reverted (or recorded as left open), the result is final.

    :param result: the final result, as written to ``result.json``.
    """


