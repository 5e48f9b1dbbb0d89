"""The run's story rebuilt from its journal for reports that draw it.

Times are seconds since the run started. Windows are merged into buckets of a whole number of window lengths, so
a report holds at most :data:`MAX_POINTS` points per request name whatever the run's length: a 10-minute run at
1,000 requests/s (2,400 slots of 250 ms) becomes 600 one-second points. Merging is exact (counts add, latency
histograms merge), so a bucket's p99 is the p99 of every request in it, not an average of percentiles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaoskit.slo.histogram import LatencyHistogram

if TYPE_CHECKING:
    from chaoskit.runner.result import RunResult

MAX_POINTS = 720
MAX_NAMES = 8
ALL = "all requests"
_DEFAULT_WIDTH = 0.25


@dataclass(frozen=True)
class PhaseSpan:
    name: str
    fault: str | None
    start: float
    end: float


@dataclass
class Episode:
    """One fault's life on the time axis (``None``: did not happen)."""

    fault: str
    type: str = ""
    target: str = ""
    ledger: str = ""
    injected: float | None = None
    reverted: float | None = None
    verified: bool = False
    abort: float | None = None
    abort_reason: str = ""
    recover_end: float | None = None
    recovered: bool | None = None
    recovered_at: float | None = None
    ttr: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Point:
    """Requests of one name (or :data:`ALL`) over ``[t, t + width)``."""

    t: float
    name: str
    count: int
    errors: int
    p50: float | None  # seconds
    p95: float | None
    p99: float | None
    limited: bool


@dataclass(frozen=True)
class Threshold:
    """An SLO objective drawn as a line over the span of time it was judged against."""

    chart: str  # "throughput" | "errors" | "latency"
    slo: str
    label: str
    start: float
    end: float
    value: float  # req/s, error % or milliseconds


@dataclass
class Timeline:
    t0: float
    end: float
    width: float
    phases: list[PhaseSpan]
    episodes: list[Episode]
    points: list[Point]
    names: list[str]
    thresholds: list[Threshold]
    notes: list[tuple[float, str]]
    windows: int
    experiment: Any = None  # the experiment as run, when the journal recorded it


def _window_width(durations: list[float]) -> float:
    """The evidence's window length: the commonest duration among windows of at least 50 ms (load slots)."""
    slots = [round(d, 3) for d in durations if d >= 0.05]
    if not slots:
        return _DEFAULT_WIDTH
    counts: dict[float, int] = {}
    for d in slots:
        counts[d] = counts.get(d, 0) + 1
    return max(counts, key=lambda d: (counts[d], -d))


@dataclass
class _Bucket:
    count: int = 0
    errors: int = 0
    histogram: dict[str, int] = field(default_factory=dict)
    limited: bool = False

    def add(self, window: Mapping[str, Any]) -> None:
        self.count += int(window.get("count", 0))
        self.errors += int(window.get("errors", 0))
        histogram = self.histogram
        for k, n in (window.get("histogram") or {}).items():
            histogram[k] = histogram.get(k, 0) + n
        self.limited = self.limited or bool(window.get("limited"))

    def point(self, t: float, name: str) -> Point:
        h = LatencyHistogram.from_json(self.histogram) if self.count else LatencyHistogram()
        return Point(t, name, self.count, self.errors, h.quantile(0.5), h.quantile(0.95), h.quantile(0.99),
                     self.limited)


def _label(window: Mapping[str, Any]) -> str:
    source, name = str(window.get("source", "")), str(window.get("name", ""))
    return f"probe {name}" if source == name else name


def bucket_windows(windows: Sequence[Mapping[str, Any]], t0: float, end: float) -> tuple[float, list[Point], list[str]]:
    """Merge windows into at most :data:`MAX_POINTS` buckets per name; returns (width, points, names shown)."""
    base = _window_width([float(w["end"]) - float(w["start"]) for w in windows])
    span = max(end - t0, base)
    width = base * max(1, math.ceil(span / base / MAX_POINTS))
    totals: dict[str, int] = {}
    for w in windows:
        totals[_label(w)] = totals.get(_label(w), 0) + int(w.get("count", 0))
    names = sorted(totals, key=lambda n: (-totals[n], n))[:MAX_NAMES]
    shown = set(names)
    buckets: dict[tuple[int, str], _Bucket] = {}
    first, last = math.inf, -math.inf
    for w in windows:
        mid = (float(w["start"]) + float(w["end"])) / 2 - t0
        k = math.floor(mid / width)
        first, last = min(first, k), max(last, k)
        keys = [ALL, label] if (label := _label(w)) in shown else [ALL]
        for key in keys:
            bucket = buckets.get((k, key))
            if bucket is None:
                bucket = buckets[(k, key)] = _Bucket()
            bucket.add(w)
    points = []
    if windows:
        for k in range(int(first), int(last) + 1):
            for name in [ALL, *names]:
                bucket = buckets.get((k, name))
                if bucket is not None or name == ALL:  # a gap in all traffic is evidence too: zero requests
                    points.append((bucket or _Bucket()).point(round(k * width, 6), name))
    return width, points, names


# ------------------------------------------------------------------------------------------------ thresholds

_LATENCY = re.compile(r"p(?P<p>[\d.]+)\s*<=?\s*(?P<v>[\d.]+)\s*(?P<unit>ms|s)\b")
_PERCENT = re.compile(r"(?P<op>>=|<=|>|<)\s*(?P<v>[\d.]+)\s*%")
_RATE = re.compile(r"(?P<op>>=|<=|>|<)\s*(?P<v>[\d.]+)\s*/\s*(?P<unit>s|m)\b")


def threshold_of(sli: str, slo: str, objective: str) -> tuple[str, float, str] | None:
    """(chart, value, label) for an objective as the judge wrote it, or None when it cannot be drawn."""
    if sli == "latency" and (m := _LATENCY.search(objective)):
        ms = float(m["v"]) * (1.0 if m["unit"] == "ms" else 1000.0)
        return "latency", ms, f"{slo}: p{m['p']} ≤ {ms:g}ms"
    if sli == "success_rate" and (m := _PERCENT.search(objective)):
        return "errors", round(100.0 - float(m["v"]), 6), f"{slo}: success {m['op']} {m['v']}%"
    if sli == "throughput" and (m := _RATE.search(objective)):
        rate = float(m["v"]) / (1.0 if m["unit"] == "s" else 60.0)
        return "throughput", rate, f"{slo}: {m['op']} {rate:g}/s"
    return None


def thresholds(result: RunResult, phases: list[PhaseSpan]) -> list[Threshold]:
    """Each verdict's objective over its phase; the steady objective also over each recover phase (recovery
    is judged against it)."""
    spans = {(p.name, p.fault): p for p in phases}
    out: list[Threshold] = []
    steady: dict[str, tuple[str, float, str]] = {}
    judged: set[tuple[str, str, str | None]] = set()
    for v in result.verdicts:
        judged.add((str(getattr(v, "slo", "")), str(getattr(v, "phase", "")), getattr(v, "fault", None)))
        sli, slo, objective = str(getattr(v, "sli", "")), str(getattr(v, "slo", "")), str(getattr(v, "objective", ""))
        drawn = threshold_of(sli, slo, objective)
        span = spans.get((str(getattr(v, "phase", "")), getattr(v, "fault", None)))
        if drawn is None or span is None:
            continue
        if getattr(v, "phase", "") != "observe":
            steady.setdefault(slo, drawn)
        out.append(Threshold(drawn[0], slo, drawn[2], span.start, span.end, drawn[1]))
    for p in phases:
        if p.name == "recover":
            out += [Threshold(c, slo, label, p.start, p.end, value) for slo, (c, value, label) in steady.items()
                    if (slo, p.name, p.fault) not in judged]
    return out


# ------------------------------------------------------------------------------------------------- the story


def build_timeline(result: RunResult, events: Iterable[Mapping[str, Any]]) -> Timeline:
    """Everything a timeline shows, from the journal events (``result`` fills what the journal lacks)."""
    events = list(events)
    t0 = next((float(e["t"]) for e in events if e.get("event") == "run_start"), result.started_at)
    end = max([result.finished_at - t0, *(float(e.get("t", t0)) - t0 for e in events[-1:])])
    open_phases: dict[tuple[str, str | None], float] = {}
    phases: list[PhaseSpan] = []
    episodes: dict[str, Episode] = {}
    notes: list[tuple[float, str]] = []
    windows: list[Mapping[str, Any]] = []
    experiment: Any = None

    def episode(name: Any) -> Episode:
        return episodes.setdefault(str(name), Episode(str(name)))

    for e in events:
        kind, t = e.get("event"), float(e.get("t", t0)) - t0
        if kind == "window" and isinstance(e.get("window"), Mapping):
            windows.append(e["window"])
        elif kind == "run_start":
            experiment = e.get("experiment")
        elif kind == "phase_start":
            open_phases[(str(e.get("phase")), e.get("fault"))] = t
        elif kind == "phase_finish":
            key = (str(e.get("phase")), e.get("fault"))
            phases.append(PhaseSpan(key[0], key[1], open_phases.pop(key, t), t))
            if key[0] == "recover" and key[1]:
                episode(key[1]).recover_end = t
        elif kind == "fault_injected":
            ep = episode(e.get("fault"))
            ep.injected = t if ep.injected is None else ep.injected
            ep.type, ep.target, ep.ledger = str(e.get("type", "")), str(e.get("target", "")), str(e.get("ledger", ""))
        elif kind == "fault_reverted":
            ep = episode(e.get("fault"))
            ep.reverted, ep.verified = t, bool(e.get("verified"))
        elif kind == "fault_error":
            episode(e.get("fault")).errors.append(str(e.get("error", "")))
        elif kind == "abort":
            ep = episode(e.get("fault"))
            ep.abort, ep.abort_reason = t, str(e.get("reason", ""))
        elif kind == "recovered":
            ep = episode(e.get("fault"))
            ep.recovered = bool(e.get("recovered"))
            if ep.recovered and e.get("at") is not None:
                ep.recovered_at = max(float(e["at"]) - t0, ep.reverted or 0.0)
            ttr = e.get("ttr")
            ep.ttr = float(ttr) if isinstance(ttr, int | float) else None
        elif kind == "note":
            notes.append((t, str(e.get("message", ""))))
    for (name, fault), start in open_phases.items():  # a torn journal: the phase ran to the end
        phases.append(PhaseSpan(name, fault, start, end))
    phases.sort(key=lambda p: p.start)
    for record in result.faults:  # the result knows faults whose events the journal lost
        ep = episode(record.name)
        ep.type, ep.target = ep.type or record.type, ep.target or record.target
        if ep.injected is None and record.injected_at is not None:
            ep.injected = record.injected_at - t0
        if ep.reverted is None and record.reverted_at is not None:
            ep.reverted, ep.verified = record.reverted_at - t0, record.verified
        if record.error and record.error not in ep.errors:
            ep.errors.append(record.error)
    width, points, names = bucket_windows(windows, t0, t0 + end)
    return Timeline(
        t0=t0,
        end=end,
        width=width,
        phases=phases,
        episodes=list(episodes.values()),
        points=points,
        names=names,
        thresholds=thresholds(result, phases),
        notes=notes,
        windows=len(windows),
        experiment=experiment,
    )
