"""Plain-text rendering of a result: the verdict with the numbers behind it (used by the console and pytest)."""

from __future__ import annotations

from chaoskit.runner.result import RunResult, SloVerdict, Status

_MARK = {Status.MET: "ok", Status.BREACHED: "BREACHED", Status.INSUFFICIENT: "too little evidence"}


def phase_label(v: SloVerdict) -> str:
    return f"{v.phase} {v.fault}" if v.fault else v.phase


def verdict_line(v: SloVerdict) -> str:
    e = v.evidence
    return (
        f"{v.slo:<18} {phase_label(v):<24} {v.observed_text:>16} {v.objective:<16} {_MARK[v.status]:<20} "
        f"n={e.requests} errors={e.errors} {e.seconds:g}s"
    )


def render_text(result: RunResult) -> str:
    lines = [f"{result.outcome.value.upper()}: {result.title}", f"  {result.reason}", ""]
    if result.verdicts:
        lines.append(f"{'SLO':<18} {'phase':<24} {'observed':>16} {'objective':<16} {'status':<20} evidence")
        lines += [verdict_line(v) for v in result.verdicts]
        lines.append("")
    for f in result.faults:
        state = "reverted+verified" if f.verified else "NOT REVERTED" if f.injected_at else "not injected"
        ttr = (
            f"recovered in {f.recovery_seconds:.2f}s" if f.recovered
            else "did not recover" if f.recovered is False else "recovery not measured"
        )
        extra = f" aborted: {f.abort_reason}" if f.aborted else ""
        lines.append(f"fault {f.name} ({f.type}) on {f.target}: {state}, {ttr}{extra}")
        if f.error:
            lines.append(f"  error: {f.error}")
    lines.append(f"journal: {result.journal}  ({result.duration:.1f}s, exit code {result.exit_code})")
    return "\n".join(lines)
