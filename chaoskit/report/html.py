"""The HTML report: one self-contained file that opens offline.

Top to bottom: the verdict (outcome, then each SLO per phase with its value, evidence and time-to-recover), the
timeline (see :mod:`chaoskit.report.charts`), the fault ledger, and the experiment as run. The chart libraries
(Vega, Vega-Lite, vega-embed) are inlined from ``chaoskit/report/vendor``; nothing is fetched when the page opens.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.report.charts import timeline_spec
from chaoskit.report.facts import VerdictRow, fault_state, number, recovery_text, verdict_rows
from chaoskit.report.timeline import Episode, Timeline, build_timeline

if TYPE_CHECKING:
    from chaoskit.runner.result import FaultRecord, RunResult

VENDORED = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")

_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0 auto;
       max-width: 1160px; padding: 20px 24px 60px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid
var(--line); padding-bottom: 4px; }
.outcome { display: inline-block; font-weight: 700; padding: 3px 10px; border-radius: 6px; color: #fff;
           letter-spacing: .04em; }
.o-passed { background: var(--ok); } .o-failed, .o-error, .o-invalid { background: var(--bad); }
.o-inconclusive, .o-interrupted { background: var(--warn); }
.reason { font-size: 15px; margin: 6px 0 10px; } .meta { color: var(--muted); font-size: 12.5px; }
.meta span { margin-right: 16px; white-space: nowrap; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.s-breached td { background: #ffebe9; } tr.s-insufficient td { background: #fff8c5; }
.status { font-weight: 600; } .s-met .status { color: var(--ok); } .s-breached .status { color: var(--bad); }
.s-insufficient .status { color: var(--warn); }
.detail { color: var(--muted); font-size: 12px; } details summary { cursor: pointer; }
table.stats { width: auto; margin: 2px 0; font-size: 11.5px; } table.stats td { border: 0; padding: 0 8px 0 0; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px; overflow: auto; font-size: 12px; }
#timeline { min-height: 120px; } .note { color: var(--muted); font-size: 12.5px; }
.vega-bind { font-size: 13px; margin: 4px 0 8px; } .vega-bind-name { font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

# Renders the spec, then publishes how long the page took, for the browser test and the benchmark.
_BOOT = """
(function () {
  var report = window.chaoskitReport = {rendered: false, error: null, renderMs: null};
  var spec = JSON.parse(document.getElementById("chaoskit-timeline-spec").textContent);
  report.ready = vegaEmbed("#timeline", spec, {renderer: "svg", actions: {export: true, source: false,
      compiled: false, editor: false}}).then(function (result) {
    report.view = result.view;
    report.renderMs = performance.now();
    report.rendered = true;
    document.body.setAttribute("data-rendered", "true");
  }).catch(function (err) {
    report.error = String(err);
    document.getElementById("timeline").textContent = "The timeline could not be drawn: " + err;
  });
})();
"""


def _clock(t: float | None) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _rel(t: float | None, t0: float) -> str:
    return "" if t is None else f"+{t - t0:.2f}s"


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _vendored_js() -> str:
    vendor = resources.files("chaoskit.report") / "vendor"
    return "\n".join(f"<script>/* {name} */\n{(vendor / name).read_text(encoding='utf-8')}\n</script>"
                     for name in VENDORED)


def _header(result: RunResult, timeline: Timeline) -> str:
    outcome = result.outcome.value
    requests = sum(p.count for p in timeline.points if p.name == "all requests")
    meta = [
        ("run", result.run_id),
        ("source", result.source or "(built in code)"),
        ("started", _clock(result.started_at)),
        ("duration", f"{result.duration:.1f}s"),
        ("exit code", str(result.exit_code)),
        ("evidence", f"{requests:,} requests in {timeline.windows:,} windows"),
    ]
    return (
        f'<header id="verdict-summary"><span class="outcome o-{escape(outcome)}" id="outcome">'
        f"{escape(outcome.upper())}</span>"
        f"<h1>{escape(result.title)}</h1><p class=\"reason\">{escape(result.reason)}</p>"
        f'<p class="meta">{"".join(f"<span><b>{k}</b> {escape(v)}</span>" for k, v in meta)}</p></header>'
    )


def _detail(row: VerdictRow) -> str:
    """The judge's sentence and any one-line check it made; every statistic behind them folded away."""
    lines = [row.detail] + [text for key, text in row.extras.items() if "." not in key and " " in text]
    shown = "<br>".join(escape(x) for x in lines if x)
    if not row.extras:
        return shown
    stats = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in row.extras.items())
    return f'{shown}<details><summary>statistics</summary><table class="stats">{stats}</table></details>'


def _verdict_table(result: RunResult) -> str:
    rows = verdict_rows(result)
    if not rows:
        return '<p class="note" id="verdicts">No SLO was judged in this run.</p>'
    body = []
    for r in rows:
        detail = _detail(r)
        body.append(
            f'<tr class="s-{escape(r.status)}"><td>{escape(r.slo)}</td><td>{escape(r.phase_label)}</td>'
            f"<td>{escape(r.objective)}</td><td class=\"num\">{escape(r.observed_text)}</td>"
            f'<td class="status">{escape(r.status_text)}</td>'
            f'<td class="num">{r.requests:,}</td><td class="num">{r.errors:,}</td>'
            f'<td class="num">{r.seconds:g}s</td><td class="num">{escape(r.ttr)}</td>'
            f'<td class="detail">{detail}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("SLO", "phase", "objective", "observed", "status", "requests",
                                               "errors", "span", "TTR", "detail"))
    return f'<table id="verdicts"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _timeline(timeline: Timeline) -> str:
    if not timeline.points:
        return '<p class="note" id="timeline">No evidence windows were recorded in this run.</p>'
    spec = timeline_spec(timeline)
    return (
        '<p class="note">Shaded: each fault from injection to verified revert (blue: baseline). Dashed lines: '
        "SLO objectives over the phases they were judged in; red: abort; green: recovery confirmed. "
        f"One point per {timeline.width:g}s. Drag to pan, scroll to zoom.</p>"
        '<div id="timeline-controls"></div><div id="timeline"></div>'
        f'<script type="application/json" id="chaoskit-timeline-spec">{_script_json(spec)}</script>'
        f"{_vendored_js()}<script>{_BOOT}</script>"
    )


def _ledger(result: RunResult, timeline: Timeline) -> str:
    if not result.faults:
        return '<p class="note" id="ledger">No fault was injected.</p>'
    episodes = {e.fault: e for e in timeline.episodes}
    t0 = timeline.t0
    rows = []
    for f in result.faults:
        ep = episodes.get(f.name, Episode(f.name))
        rows.append(_ledger_row(f, ep, t0))
    head = "".join(f"<th>{h}</th>" for h in ("fault", "type", "target", "ledger id", "injected", "reverted",
                                               "state", "active", "abort", "recovery", "error"))
    return f'<table id="ledger"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _ledger_row(f: FaultRecord, ep: Episode, t0: float) -> str:
    active = (f.reverted_at - f.injected_at) if f.reverted_at and f.injected_at else None
    recovery = recovery_text(f)
    if ep.recovered_at is not None:
        recovery += f" (confirmed at +{ep.recovered_at:.2f}s)"
    abort = f"at +{ep.abort:.2f}s: {ep.abort_reason}" if ep.abort is not None else (
        f.abort_reason or "" if f.aborted else "")
    cells = [
        f.name, f.type, f.target, f.ledger_id or "",
        f"{_rel(f.injected_at, t0)} {_clock(f.injected_at)}".strip(),
        f"{_rel(f.reverted_at, t0)} {_clock(f.reverted_at)}".strip(),
        fault_state(f), f"{active:.2f}s" if active is not None else "", abort, recovery, f.error or "",
    ]
    state_class = "s-met" if f.verified else "s-breached"
    return f'<tr class="{state_class}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def _experiment(result: RunResult, timeline: Timeline) -> str:
    phases = "".join(
        f"<tr><td>{escape(p.name)}</td><td>{escape(p.fault or '')}</td><td class=\"num\">+{p.start:.2f}s</td>"
        f'<td class="num">+{p.end:.2f}s</td><td class="num">{p.end - p.start:.2f}s</td></tr>'
        for p in timeline.phases
    )
    out = ['<table id="phases"><thead><tr><th>phase</th><th>fault</th><th>start</th><th>end</th><th>duration</th>'
           f"</tr></thead><tbody>{phases}</tbody></table>"]
    if timeline.notes:
        notes = "".join(f"<li>+{t:.2f}s {escape(m)}</li>" for t, m in timeline.notes)
        out.append(f'<h3>Notes</h3><ul id="notes">{notes}</ul>')
    definition, where = _definition(result, timeline)
    out.append(f'<h3>Definition</h3><p class="note">{escape(where)}</p>')
    if definition is not None:
        out.append(f'<pre id="experiment">{escape(definition)}</pre>')
    return "".join(out)


def _definition(result: RunResult, timeline: Timeline) -> tuple[str | None, str]:
    """The experiment's text: as the journal recorded it, else the source file as it is now."""
    if timeline.experiment is not None:
        import yaml

        return yaml.safe_dump(timeline.experiment, sort_keys=False, allow_unicode=True), "As recorded in the journal."
    if result.source:
        path = Path(result.source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None, f"The journal does not record the experiment and {result.source} cannot be read here."
        return text, (f"Read from {path.resolve()} when this report was rendered; the journal does not record "
                      "the experiment itself, so check the file was not changed since the run.")
    return None, "The experiment was built in code; the journal does not record it."


def render_html(result: RunResult, events: list[dict[str, Any]]) -> str:
    """The whole report as one HTML document."""
    from chaoskit import __version__

    timeline = build_timeline(result, events)
    title = f"{result.outcome.value.upper()}: {result.title}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
        f"{_header(result, timeline)}"
        f"<h2>Verdict</h2>{_verdict_table(result)}"
        f"<h2>Timeline</h2>{_timeline(timeline)}"
        f"<h2>Fault ledger</h2>{_ledger(result, timeline)}"
        f"<h2>Experiment as run</h2>{_experiment(result, timeline)}"
        f"<footer>chaoskit {escape(__version__)} · journal {escape(result.journal or '')} · charts by Vega-Lite "
        f"(BSD-3-Clause), inlined · {number(result.duration)}s run</footer>"
        "</body></html>\n"
    )
