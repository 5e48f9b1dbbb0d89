"""The HTML index of the history: per experiment its pass rate, Wilson interval, flaky flag and TTR over time,
then every run with a link to its report (``report.html`` beside the journal when one was written, else its
``result.json``). One self-contained file; links are relative to where it is written."""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from chaoskit.history.record import RunRecord
from chaoskit.history.trends import Trend

_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1200px; padding: 20px 24px 60px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 30px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta, .note { color: var(--muted); font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.o { display: inline-block; font-weight: 600; font-size: 11.5px; padding: 1px 7px; border-radius: 5px; color: #fff; }
.o-passed { background: var(--ok); } .o-failed, .o-error, .o-invalid { background: var(--bad); }
.o-inconclusive, .o-interrupted { background: var(--warn); }
.strip a { display: inline-block; width: 10px; height: 14px; margin-right: 2px; border-radius: 2px; }
.flaky { color: #fff; background: var(--warn); font-weight: 700; padding: 1px 6px; border-radius: 5px; }
.ci { display: inline-block; position: relative; width: 120px; height: 10px; background: #f6f8fa;
      border: 1px solid var(--line); vertical-align: middle; margin-left: 6px; }
.ci span { position: absolute; top: 0; bottom: 0; background: #8c959f; }
.ci i { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #1f2328; }
.reason { color: var(--muted); font-size: 12px; max-width: 420px; }
"""
_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#cf222e", "invalid": "#cf222e",
            "inconclusive": "#9a6700", "interrupted": "#9a6700"}


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}s"


def _href(target: Path, out_dir: Path) -> str:
    try:
        rel = os.path.relpath(target, out_dir)
    except ValueError:  # another drive
        return target.resolve().as_uri()
    return escape(Path(rel).as_posix(), quote=True)


def run_link(run: RunRecord, out_dir: Path) -> tuple[str | None, str]:
    """(href, label) of the best page for ``run``: its HTML report, else its result.json, else nothing."""
    report = run.report()
    if report is not None:
        return _href(report, out_dir), "report"
    if run.run_dir is not None and (run.run_dir / "result.json").is_file():
        return _href(run.run_dir / "result.json", out_dir), "result.json"
    return None, "no report"


def ttr_svg(points: Sequence[tuple[float, float]], width: int = 160, height: int = 34) -> str:
    """TTR over time as a small SVG line with dots (the latest one darker)."""
    if not points:
        return '<span class="note">not measured</span>'
    top = max(t for _, t in points) or 1.0
    n = len(points)
    xy = [(4 + (width - 8) * (i / (n - 1) if n > 1 else 0.5), height - 4 - (height - 8) * (t / top))
          for i, (_, t) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{"#1f2328" if i == n - 1 else "#8c959f"}">'
                   f"<title>{_when(points[i][0])}: {points[i][1]:.2f}s</title></circle>" for i, (x, y) in enumerate(xy))
    return (f'<svg class="ttr" width="{width}" height="{height}" role="img" aria-label="TTR over time, max '
            f'{top:.1f}s"><polyline points="{line}" fill="none" stroke="#57606a" stroke-width="1.2"/>{dots}</svg>'
            f' <span class="note">max {top:.1f}s</span>')


def _ci_bar(trend: Trend) -> str:
    if not trend.judged:
        return ""
    rate = trend.pass_rate or 0.0
    return (f'<span class="ci" title="95% Wilson interval {_pct(trend.low)}&ndash;{_pct(trend.high)}">'
            f'<span style="left:{100 * trend.low:.1f}%;right:{100 - 100 * trend.high:.1f}%"></span>'
            f'<i style="left:calc({100 * rate:.1f}% - 1px)"></i></span>')


def _anchor(name: str) -> str:
    return "x-" + "".join(c if c.isalnum() else "-" for c in name)[:60] + f"-{zlib.crc32(name.encode()) % 10_000}"


def render_index(trends: Sequence[Trend], runs: Mapping[str, Sequence[RunRecord]], *, out_dir: Path,
                 source: str, last: int) -> str:
    """The page; ``runs`` maps each experiment to its runs, newest first."""
    anchors = {t.experiment: _anchor(t.experiment) for t in trends}
    rows = []
    for t in trends:
        series = list(reversed(runs.get(t.experiment, [])))
        strip = "".join(
            f'<a href="{run_link(r, out_dir)[0] or "#" + anchors[t.experiment]}" title="{escape(_when(r.started_at))}'
            f': {escape(r.outcome)}" style="background:{_COLOURS.get(r.outcome, "#8c959f")}"></a>' for r in series)
        flaky = '<span class="flaky">flaky</span>' if t.flaky else ""
        rows.append(
            f'<tr><td><a href="#{anchors[t.experiment]}">{escape(t.experiment)}</a></td>'
            f'<td class="num">{t.runs}</td><td class="num">{t.passed}/{t.judged} = {_pct(t.pass_rate)}</td>'
            f"<td>{_pct(t.low)}&ndash;{_pct(t.high)}{_ci_bar(t)}</td><td>{flaky}</td>"
            f'<td class="num">{_secs(t.ttr_median)}</td><td>{ttr_svg(t.ttr)}</td><td class="strip">{strip}</td></tr>')
    sections = []
    for t in trends:
        lines = []
        for r in runs.get(t.experiment, []):
            href, label = run_link(r, out_dir)
            link = f'<a href="{href}">{label}</a>' if href else f'<span class="note">{label}</span>'
            gd = escape(r.gameday or "")
            lines.append(
                f'<tr><td>{_when(r.started_at)}</td><td><span class="o o-{escape(r.outcome)}">'
                f"{escape(r.outcome.upper())}</span></td><td class=\"num\">{r.duration:.1f}s</td>"
                f'<td class="num">{_secs(r.ttr)}</td><td class="num">{r.breaches}</td><td>{escape(r.via)}</td>'
                f'<td>{gd}</td><td>{link}</td><td class="reason">{escape(r.reason)}</td></tr>')
        sections.append(
            f'<h2 id="{anchors[t.experiment]}">{escape(t.experiment)}</h2>'
            f"<table><tr><th>started (UTC)</th><th>outcome</th><th>duration</th><th>TTR</th><th>breaches</th>"
            f"<th>via</th><th>game day</th><th>report</th><th>reason</th></tr>{''.join(lines)}</table>")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    empty = '<p class="note">No runs recorded yet.</p>' if not trends else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chaoskit history</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><h1>chaoskit history</h1>
<p class="meta">{escape(source)} · last {last} runs per experiment · generated {generated}</p>
<p class="note">Pass rate over runs that judged the system (passed, failed, error, inconclusive), with a 95% Wilson
interval; <b>flaky</b>: a pass rate between 10% and 90%. TTR: the longest time-to-recover of a run's faults.</p>
{empty}<table><tr><th>experiment</th><th>runs</th><th>passed</th><th>95% interval</th><th></th><th>TTR median</th>
<th>TTR over time</th><th>outcomes (oldest → newest)</th></tr>{''.join(rows)}</table>
{''.join(sections)}
</body></html>
"""
