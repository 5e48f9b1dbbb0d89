"""The HTML reporter on synthetic journals: what it says, what it draws, and that it stays small and offline."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chaoskit.plugins import plugin_manager
from chaoskit.report.charts import datasets, timeline_spec
from chaoskit.report.html import render_html
from chaoskit.report.timeline import ALL, MAX_POINTS, Threshold, bucket_windows, build_timeline, threshold_of
from chaoskit.runner.result import Outcome, SloVerdict, Status
from chaoskit.slo.histogram import LatencyHistogram
from tests.report.report_journal import T0, FaultPlan, SyntheticRun, verdict

ABORTING = SyntheticRun(
    seconds=40.0,
    faults=(FaultPlan("store-latency", 12.0, 8.0, ttr=0.8),
            FaultPlan("store-down", 24.0, 6.0, type="network.down", abort_after=3.0, error_rate=0.6, ttr=None)),
)


class _Page(HTMLParser):
    """The parts of the page a reader looks at: section headings, table cells by table id, external refs."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.external: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._tag: str | None = None
        self.scripts: dict[str, str] = {}
        self._script: str | None = None
        self._nested = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._tag = tag
        if tag in ("script", "img", "link", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(str(a.get("src") or a.get("href")))
        if tag == "script":
            self._script = a.get("id") or f"script{len(self.scripts)}"
            self.scripts[self._script] = ""
        if self._cell is not None:  # a table inside a cell (the folded statistics): its text joins the cell
            self._cell.append(" ")
            self._nested += tag == "table"
        elif tag == "table":
            self._table = a.get("id") or "?"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._nested:
            self._nested -= tag == "table"
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._tag == "h2":
            self.headings.append(data)
        if self._script is not None:
            self.scripts[self._script] += data


def page(run: SyntheticRun, result: Any = None) -> tuple[str, _Page]:
    text = render_html(result or run.result(), run.events())
    parsed = _Page()
    parsed.feed(text)
    return text, parsed


def spec_of(parsed: _Page) -> dict[str, Any]:
    return dict(json.loads(parsed.scripts["chaoskit-timeline-spec"]))


def test_the_reporter_is_registered_through_the_reporter_hook() -> None:
    reporters = plugin_manager(entry_points_enabled=False).registry.reporters
    assert {"html", "junit", "md"} <= reporters.keys()
    assert reporters["html"].suffix == ".html" and reporters["junit"].suffix == ".junit.xml"


def test_verdict_comes_first_then_timeline_ledger_and_experiment() -> None:
    text, parsed = page(ABORTING)
    assert parsed.headings == ["Verdict", "Timeline", "Fault ledger", "Experiment as run"]
    assert text.index('id="outcome"') < text.index('id="verdicts"') < text.index('id="timeline"')


def test_each_slo_per_phase_shows_value_evidence_and_ttr() -> None:
    _, parsed = page(ABORTING)
    header, *rows = parsed.tables["verdicts"]
    assert header[:5] == ["SLO", "phase", "objective", "observed", "status"] and "TTR" in header
    ttr = header.index("TTR")
    assert len(rows) == 6
    baseline = rows[1]
    assert baseline[:5] == ["reads-fast", "baseline", "p95 <= 100ms", "p95 10.8ms", "met"]
    assert baseline[header.index("requests")] == "692" and baseline[ttr] == ""
    assert rows[2][1] == "during store-latency" and rows[2][ttr] == "0.80s"
    assert rows[4][1] == "during store-down" and rows[4][ttr] == "not recovered"


def test_a_breach_is_marked_and_the_outcome_leads_the_page() -> None:
    run = dataclasses.replace(ABORTING, verdicts=[
        verdict("reads-available", "success_rate", "observe", "store-down", Status.BREACHED, ">= 99%", 0.41,
                "41.00%", 3.0, requests=300, errors=177, detail="41.00% against >= 99%"),
    ])
    text, parsed = page(run, run.result(Outcome.FAILED, "SLO reads-available broke during fault store-down"))
    assert re.search(r'id="outcome">\s*FAILED<', text)
    assert '<tr class="s-breached">' in text
    row = parsed.tables["verdicts"][1]
    assert row[3:5] == ["41.00%", "BREACHED"] and "177" in row


def test_charts_shade_each_fault_and_mark_abort_and_recovery() -> None:
    _, parsed = page(ABORTING)
    spec = spec_of(parsed)
    bands = {b["label"]: (b["x0"], b["x1"]) for b in spec["datasets"]["bands"]}
    assert bands["baseline"] == (2.0, 10.0)
    assert bands["store-latency"] == pytest.approx((12.001, 20.01))
    assert bands["store-down (aborted)"] == pytest.approx((24.001, 27.01))
    marks = {(m["kind"], m["label"]) for m in spec["datasets"]["marks"]}
    assert ("abort", "abort store-down") in marks
    assert ("recovered", "recovery confirmed, TTR 0.80s") in marks
    assert ("no recovery", "no recovery after store-down") in marks
    abort = next(m for m in spec["datasets"]["marks"] if m["kind"] == "abort")
    assert abort["x"] == pytest.approx(27.0) and "41.00%" in abort["detail"]
    assert [c["title"]["text"] for c in spec["vconcat"]] == ["Throughput", "Error rate", "Latency"]


def test_slo_objectives_are_drawn_over_the_phases_they_were_judged_in() -> None:
    _, parsed = page(ABORTING)
    lines = spec_of(parsed)["datasets"]["thresholds"]
    latency = sorted((t["x0"], t["x1"], t["y"]) for t in lines if t["chart"] == "latency")
    assert (2.0, 10.0, 100.0) in latency  # baseline objective
    assert (12.0, 20.0, 1000.0) in latency  # the relaxed objective during the fault
    assert any(y == 100.0 and x0 > 20.0 for x0, _, y in latency)  # recovery is judged against the steady objective
    errors = {(t["x0"], t["y"]) for t in lines if t["chart"] == "errors"}
    assert (2.0, 1.0) in errors  # >= 99% success: at most 1% errors


@pytest.mark.parametrize(("sli", "objective", "expected"), [
    ("latency", "p95 <= 250ms", ("latency", 250.0)),
    ("latency", "p99.9 <= 1.5s", ("latency", 1500.0)),
    ("success_rate", ">= 99.9%", ("errors", pytest.approx(0.1))),
    ("throughput", ">= 50/s", ("throughput", 50.0)),
    ("throughput", ">= 600/m", ("throughput", 10.0)),
    ("latency", "something a newer judge says", None),
])
def test_objectives_as_the_judge_writes_them_become_lines(sli: str, objective: str, expected: Any) -> None:
    drawn = threshold_of(sli, "s", objective)
    assert (drawn[:2] if drawn else None) == expected


def test_series_are_exact_merges_of_the_windows() -> None:
    run = SyntheticRun(seconds=10.0, children=2, faults=())
    events = run.events()
    timeline = build_timeline(run.result(), events)
    windows = [e["window"] for e in events if e["event"] == "window"]
    assert sum(p.count for p in timeline.points if p.name == ALL) == sum(w["count"] for w in windows)
    assert timeline.width == 0.25
    assert set(timeline.names) == {"/products", "/checkout", "/products/[id]", "probe health"}
    point = next(p for p in timeline.points if p.name == "/checkout" and p.t == 5.0)
    same = [w for w in windows if w["name"] == "/checkout" and T0 + 5.0 <= (w["start"] + w["end"]) / 2 < T0 + 5.25]
    merged = LatencyHistogram.merged(LatencyHistogram.from_json(w["histogram"]) for w in same)
    assert len(same) == 2 and point.count == merged.count and point.p99 == merged.quantile(0.99)


def test_long_runs_are_downsampled_to_a_bounded_number_of_points() -> None:
    h = {"-230": 1}
    windows = [{"start": T0 + k * 0.25, "end": T0 + (k + 1) * 0.25, "source": "load", "name": n, "count": 1,
                "errors": 0, "histogram": h} for k in range(4 * 3600) for n in ("a", "b")]
    width, points, names = bucket_windows(windows, T0, T0 + 3600)
    assert width == 5.0 and names == ["a", "b"]
    assert len([p for p in points if p.name == ALL]) <= MAX_POINTS
    assert sum(p.count for p in points if p.name == ALL) == len(windows)


def test_many_request_names_keep_only_the_busiest_apart() -> None:
    windows = [{"start": T0, "end": T0 + 0.25, "source": "load", "name": f"/n{i}", "count": i + 1, "errors": 0,
                "histogram": {"-200": i + 1}} for i in range(20)]
    _, points, names = bucket_windows(windows, T0, T0 + 1)
    assert names == [f"/n{i}" for i in range(19, 11, -1)]
    assert next(p for p in points if p.name == ALL).count == sum(range(1, 21))


def test_the_page_is_one_offline_file() -> None:
    text, parsed = page(ABORTING)
    assert parsed.external == []  # no <script src>, <link href>, <img src>: everything is inlined
    assert "vegaEmbed" in text and "vega-lite" in text.lower()
    assert "sourceMappingURL" not in text


def test_what_the_run_says_is_escaped() -> None:
    run = dataclasses.replace(ABORTING, title="<script>alert(1)</script> & co")
    text, _ = page(run)
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text


def test_unknown_verdict_fields_from_a_newer_judge_are_shown() -> None:
    @dataclasses.dataclass(frozen=True)
    class StatVerdict(SloVerdict):
        power: float = 0.0
        detectable: dict[str, Any] = dataclasses.field(default_factory=dict)

    base = ABORTING.default_verdicts()[0]
    extended = StatVerdict(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, power=0.951,
                           detectable={"burn": 2.0})
    run = dataclasses.replace(ABORTING, verdicts=[extended])
    _, parsed = page(run)
    detail = parsed.tables["verdicts"][1][-1]
    assert "statistics" in detail and "power 0.951" in detail and "detectable.burn 2" in detail


def test_a_judge_that_measures_recovery_per_slo_is_shown_per_slo() -> None:
    @dataclasses.dataclass(frozen=True)
    class Check:
        shift: float
        p_value: float

        @property
        def text(self) -> str:
            return f"worse than baseline (shift {self.shift:+g}ms)"

    @dataclasses.dataclass(frozen=True)
    class RecoveryVerdict(SloVerdict):
        ttr: float | None = None
        censored: bool | None = None
        relative: Check | None = None

    base = verdict("reads-fast", "latency", "recover", "store-latency", Status.MET, "p95 <= 100ms", 0.012,
                   "p95 12.0ms", 1.8)
    core = ("slo", "sli", "phase", "fault", "status", "objective", "observed", "observed_text", "evidence", "detail")
    fields = {name: getattr(base, name) for name in core}  # whatever else SloVerdict has by now keeps its default
    run = dataclasses.replace(ABORTING, verdicts=[
        *ABORTING.default_verdicts()[:2],
        RecoveryVerdict(**fields, ttr=0.42, relative=Check(3.5, 0.01)),
        RecoveryVerdict(**{**fields, "fault": "store-down", "status": Status.BREACHED}, censored=True),
    ])
    _, parsed = page(run)
    header, *rows = parsed.tables["verdicts"]
    ttr = header.index("TTR")
    assert rows[2][1] == "after store-latency" and rows[2][ttr] == "0.42s"
    detail = " ".join(rows[2][-1].split())
    assert detail.startswith("worse than baseline (shift +3.5ms)")  # a check's own sentence is shown in full
    assert "relative.p_value 0.01" in detail  # its figures are folded under "statistics"
    assert rows[3][1] == "after store-down" and rows[3][ttr] == "not recovered"
    lines = spec_of(parsed)["datasets"]["thresholds"]
    recover = [t for t in lines if t["chart"] == "latency" and t["x0"] == pytest.approx(20.02)]
    assert len(recover) == 1  # judged in that phase: drawn once, not again as the steady objective


def test_ledger_shows_injected_reverted_verified_and_recovery() -> None:
    run = dataclasses.replace(ABORTING, faults=(
        *ABORTING.faults, FaultPlan("kill-api", 34.0, 2.0, type="process.kill", revert_error="api did not restart")))
    _, parsed = page(run)
    header, *rows = parsed.tables["ledger"]
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    latency = by_name["store-latency"]
    assert latency["injected"].startswith("+12.00s") and latency["reverted"].startswith("+20.01s")
    assert latency["state"] == "reverted+verified" and latency["active"] == "8.01s"
    assert "recovered in 0.80s" in latency["recovery"]
    assert by_name["store-down"]["abort"].startswith("at +27.00s: success rate 41.00%")
    assert by_name["store-down"]["recovery"] == "did not recover"
    assert by_name["kill-api"]["state"] == "NOT REVERTED" and by_name["kill-api"]["error"] == "api did not restart"


def test_the_experiment_as_run_prefers_the_journal_then_the_source_file(tmp_path: Path) -> None:
    recorded = dataclasses.replace(ABORTING, experiment={"version": 1, "title": "recorded in the journal"})
    text, _ = page(recorded)
    assert "As recorded in the journal." in text and "title: recorded in the journal" in text
    source = tmp_path / "exp.yaml"
    source.write_text("version: 1\ntitle: from the file\n")
    text, parsed = page(dataclasses.replace(ABORTING, source=str(source)))
    assert "title: from the file" in text and "does not record the experiment" in text
    phases = [row[:2] for row in parsed.tables["phases"][1:]]
    assert ["observe", "store-latency"] in phases and ["recover", "store-down"] in phases


def test_a_run_without_evidence_still_renders_without_charts() -> None:
    run = SyntheticRun(seconds=0.0, faults=(), probe_every=None)
    result = run.result(Outcome.ERROR, "target not healthy before injection")
    text = render_html(dataclasses.replace(result, verdicts=[]), run.events())
    assert "No evidence windows were recorded" in text and "No SLO was judged" in text
    assert "vegaEmbed(" not in text


def test_datasets_round_trip_as_strict_json() -> None:
    timeline = build_timeline(ABORTING.result(), ABORTING.events())
    spec = timeline_spec(timeline)
    json.dumps(spec, allow_nan=False)
    points = datasets(timeline)["points"]
    assert {p["n"] for p in points} >= {ALL, "/products", "probe health"}
    assert all(isinstance(t, Threshold) for t in timeline.thresholds)
