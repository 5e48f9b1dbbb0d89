"""Plain-text rendering of a result: the verdict with the numbers behind it (used by the console and pytest).

Each verdict line shows what was decided and on what: status and the test's decision, the observed value, the
requests ``n`` and bad events, the error rates ``alpha/beta``, the minimum detectable effect (MDE: the bad rate
the evidence would have caught, as a multiple of the allowed one) against the burn a PASS needs, and the
time-to-recover. The relative check against the baseline follows on its own line.
"""

from __future__ import annotations

from chaoskit.runner.result import RunResult, SloVerdict, Status

_MARK = {Status.MET: "ok", Status.BREACHED: "BREACHED", Status.INSUFFICIENT: "too little evidence"}


def phase_label(v: SloVerdict) -> str:
    return f"{v.phase} {v.fault}" if v.fault else v.phase


def _percent(x: float) -> str:
    return f"{x * 100:.3g}%"


def _statistics(v: SloVerdict) -> str:
    parts: list[str] = []
    if v.alpha is not None and v.beta is not None:
        parts.append(f"a/b={_percent(v.alpha)}/{_percent(v.beta)}")
    if v.mde is not None and v.p0:
        need = f"<={v.burn:g}x" if v.burn is not None else ""
        parts.append(f"MDE={_percent(v.mde)} ({v.mde / v.p0:.2g}x{need})")
    if v.dispersion is not None and v.dispersion > 1.0 + 1e-9:
        parts.append(f"D={v.dispersion:.2g}")
    if v.ttr is not None:
        confirmed = f" confirmed {v.confirmed_at:.2f}s" if v.confirmed_at is not None else ""
        parts.append(f"TTR={v.ttr:.2f}s{confirmed}")
    elif v.censored:
        parts.append(f"TTR>{v.evidence.seconds:g}s (censored)")
    if v.budget_burned:
        parts.append(f"budget {v.budget_burned:.3%}")
    return " ".join(parts)


def verdict_line(v: SloVerdict) -> str:
    e = v.evidence
    bad = f" bad={v.bad}" if v.bad is not None and v.bad != e.errors else ""
    decision = v.decision or ""
    line = (
        f"{v.slo:<18} {phase_label(v):<24} {v.observed_text:>16} {v.objective:<16} {_MARK[v.status]:<20} "
        f"{decision:<13} n={e.requests} errors={e.errors}{bad} {e.seconds:g}s"
    )
    stats = _statistics(v)
    return f"{line} {stats}" if stats else line


def observations_text(observed: dict[str, object]) -> str:
    """``restarted by: restart policy always, back after 1.2s, ...``: what a fault saw of its target."""
    parts = []
    for key, value in observed.items():
        label = key.replace("_", " ")
        parts.append(f"{label} {value:g}s" if isinstance(value, float) else f"{label}: {value}")
    return ", ".join(parts)


def render_text(result: RunResult) -> str:
    lines = [f"{result.outcome.value.upper()}: {result.title}", f"  {result.reason}", ""]
    if result.verdicts:
        lines.append(
            f"{'SLO':<18} {'phase':<24} {'observed':>16} {'objective':<16} {'status':<20} {'decision':<13} evidence"
        )
        for v in result.verdicts:
            lines.append(verdict_line(v))
            if v.relative is not None and v.relative.baseline_bins and v.relative.bins:
                lines.append(f"{'':<18} {'':<24} relative: {v.relative.text}")
        lines.append("")
    for f in result.faults:
        state = "reverted+verified" if f.verified else "NOT REVERTED" if f.injected_at else "not injected"
        if f.recovered:
            confirmed = f" (confirmed after {f.recovery_confirmed_after:.2f}s)" if f.recovery_confirmed_after else ""
            ttr = f"recovered in {f.recovery_seconds:.2f}s{confirmed}"
        elif f.recovery_censored:
            ttr = "recovery not confirmed (censored)"
        else:
            ttr = "did not recover" if f.recovered is False else "recovery not measured"
        extra = f" aborted: {f.abort_reason}" if f.aborted else ""
        lines.append(f"fault {f.name} ({f.type}) on {f.target}: {state}, {ttr}{extra}")
        if f.error:
            lines.append(f"  error: {f.error}")
        if f.observations:
            lines.append(f"  observed: {observations_text(f.observations)}")
    lines.append(f"journal: {result.journal}  ({result.duration:.1f}s, exit code {result.exit_code})")
    return "\n".join(lines)
