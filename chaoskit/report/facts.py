"""What every reader-facing report says about a run, computed once: one row per SLO verdict with its figures,
the time-to-recover of the fault it belongs to, and any statistics the judge attached.

Reporters read :class:`~chaoskit.runner.result.SloVerdict` defensively: a judge may add fields (power,
detectable breach, ...) and those show up here as ``extras`` without a reporter having to know them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.runner.result import FaultRecord, RunResult

_KNOWN = frozenset(
    {"slo", "sli", "phase", "fault", "status", "objective", "observed", "observed_text", "evidence", "detail", "ttr"}
)
OUTCOME_MARK = {
    "passed": "✅",
    "failed": "❌",
    "error": "💥",
    "invalid": "⛔",
    "inconclusive": "❔",
    "interrupted": "⏹",
}
STATUS_TEXT = {"met": "met", "breached": "BREACHED", "insufficient": "too little evidence"}
STATUS_MARK = {"met": "✅", "breached": "❌", "insufficient": "❔"}


@dataclass(frozen=True)
class VerdictRow:
    """One SLO judged over one phase, flattened for display."""

    slo: str
    sli: str
    phase: str
    fault: str | None
    status: str  # "met" | "breached" | "insufficient" | whatever a newer judge says
    objective: str
    observed: float | None
    observed_text: str
    requests: int
    errors: int
    windows: int
    seconds: float
    detail: str
    ttr: str  # "" outside fault phases
    extras: dict[str, str]

    @property
    def phase_label(self) -> str:
        if not self.fault:
            return self.phase
        return {"observe": f"during {self.fault}", "recover": f"after {self.fault}"}.get(
            self.phase, f"{self.phase} {self.fault}")

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def evidence_text(self) -> str:
        return f"{self.requests:,} requests, {self.errors:,} errors, {self.seconds:g}s"

    def figures(self) -> dict[str, str]:
        """Every figure behind this verdict as text, in a stable order (JUnit properties, tooltips)."""
        out = {
            "status": self.status,
            "objective": self.objective,
            "observed": self.observed_text,
            "observed_value": number(self.observed),
            "requests": str(self.requests),
            "errors": str(self.errors),
            "windows": str(self.windows),
            "seconds": f"{self.seconds:g}",
        }
        if self.ttr:
            out["ttr"] = self.ttr
        if self.detail:
            out["detail"] = self.detail
        return {**out, **self.extras}


def number(value: Any) -> str:
    """A number as short text (4 significant digits), ``""`` for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        text = getattr(value, "text", None)  # a judge's own one-line summary of a nested check
        if isinstance(text, str):
            out[prefix] = text
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, list | tuple):
        out[prefix] = ", ".join(number(v) for v in value)
    elif value is not None and value != "":
        out[prefix] = number(getattr(value, "value", value))


def _as_dict(verdict: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(verdict) and not isinstance(verdict, type):
        return {f.name: getattr(verdict, f.name) for f in dataclasses.fields(verdict)}
    if isinstance(verdict, Mapping):
        return dict(verdict)
    return dict(vars(verdict))


def ttr_text(records: Iterable[FaultRecord]) -> str:
    """How the system recovered after one fault (all its targets): ``"1.25s"``, ``"not recovered"``, ``""``."""
    records = list(records)
    if any(r.recovered is False for r in records):
        return "not recovered"
    seconds = [r.recovery_seconds for r in records if r.recovered and r.recovery_seconds is not None]
    return f"{max(seconds):.2f}s" if seconds else ""


def _ttr(verdict: Mapping[str, Any]) -> str:
    """The verdict's own time-to-recover, when its judge measured one per SLO."""
    if verdict.get("censored"):
        return "not recovered"
    ttr = verdict.get("ttr")
    return f"{ttr:.2f}s" if isinstance(ttr, int | float) and not isinstance(ttr, bool) else ""


def verdict_rows(result: RunResult) -> list[VerdictRow]:
    """Every verdict of ``result`` in judging order."""
    by_fault: dict[str, list[FaultRecord]] = {}
    for record in result.faults:
        by_fault.setdefault(record.name, []).append(record)
    rows = []
    for verdict in result.verdicts:
        data = _as_dict(verdict)
        evidence = data.get("evidence")
        ev = _as_dict(evidence) if evidence is not None else {}
        status = data.get("status")
        extras: dict[str, str] = {}
        for key, value in data.items():
            if key not in _KNOWN:
                _flatten(key, value, extras)
        fault = data.get("fault")
        observed = data.get("observed")
        rows.append(
            VerdictRow(
                slo=str(data.get("slo", "?")),
                sli=str(data.get("sli", "")),
                phase=str(data.get("phase", "")),
                fault=str(fault) if fault else None,
                status=str(getattr(status, "value", status)),
                objective=str(data.get("objective", "")),
                observed=float(observed) if isinstance(observed, int | float) else None,
                observed_text=str(data.get("observed_text", "")),
                requests=int(ev.get("requests", 0) or 0),
                errors=int(ev.get("errors", 0) or 0),
                windows=int(ev.get("windows", 0) or 0),
                seconds=float(ev.get("seconds", 0.0) or 0.0),
                detail=str(data.get("detail", "") or ""),
                ttr=_ttr(data) or (ttr_text(by_fault.get(str(fault), [])) if fault else ""),
                extras=extras,
            )
        )
    return rows


def fault_state(record: FaultRecord) -> str:
    """``reverted+verified`` / ``NOT REVERTED`` / ``not injected`` for one ledger entry."""
    if record.verified:
        return "reverted+verified"
    return "NOT REVERTED" if record.injected_at else "not injected"


def recovery_text(record: FaultRecord) -> str:
    if record.recovered:
        return f"recovered in {record.recovery_seconds or 0:.2f}s"
    return "did not recover" if record.recovered is False else "recovery not measured"
