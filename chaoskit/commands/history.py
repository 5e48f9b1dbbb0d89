"""``chaoskit history``: per experiment, the pass rate over its last N runs (with a 95 % Wilson interval), the
flaky flag and TTR over time; ``--runs`` lists the runs themselves, ``--html`` writes the index page."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chaoskit.commands._common import state_dir_option

if TYPE_CHECKING:
    from chaoskit.history.record import RunRecord
    from chaoskit.history.store import History
    from chaoskit.history.trends import Trend

EXIT_HISTORY = 3


@click.command()
@click.argument("experiments", nargs=-1)
@state_dir_option
@click.option("--db", "url", default=None, metavar="URL", envvar="CHAOSKIT_HISTORY",
              help="The history database: postgresql://... or sqlite:///path (default: STATE_DIR/history.sqlite).")
@click.option("--last", "-n", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many of each experiment's latest runs to consider.")
@click.option("--gameday", default=None, help="Only runs of this game day.")
@click.option("--runs", "show_runs", is_flag=True, help="List the runs, not only the trends.")
@click.option("--json", "as_json", is_flag=True, help="Print trends and runs as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the HTML index page (every run linked to its report) here.")
@click.option("--render-reports", is_flag=True,
              help="With --html: first write the missing report.html of every listed run that has a journal.")
def history(experiments: tuple[str, ...], state_dir: Path, url: str | None, last: int, gameday: str | None,
            show_runs: bool, as_json: bool, html_path: Path | None, render_reports: bool) -> None:
    """Show how EXPERIMENTS (titles; default: all) fared over their last runs."""
    from chaoskit.errors import HistoryError
    from chaoskit.history.store import history_url, open_history
    from chaoskit.history.trends import trend

    try:
        if url and url.strip().lower() not in {"", "off", "0", "no", "none", "false"}:
            resolved: str | None = history_url(state_dir, {"CHAOSKIT_HISTORY": url})
        else:
            resolved = history_url(state_dir, {})
        assert resolved is not None
        if resolved.startswith("sqlite:///") and not Path("/" + resolved.removeprefix("sqlite:///")).exists():
            click.echo(f"no history yet at {resolved} (runs are recorded as they finish)", err=True)
            raise SystemExit(0)
        store: History = open_history(resolved)
        try:
            names = list(experiments) or store.experiments()
            runs = {name: store.runs(experiment=name, gameday=gameday, limit=last) for name in names}
        finally:
            store.close()
    except HistoryError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_HISTORY) from None
    runs = {name: rs for name, rs in runs.items() if rs}
    trends = [trend(name, rs) for name, rs in runs.items()]
    if html_path is not None:
        _write_html(html_path, trends, runs, store.url, last, render_reports)
    if as_json:
        click.echo(json.dumps({"history": store.url, "last": last, "trends": [t.to_json() for t in trends],
                               "runs": {n: [r.to_json() for r in rs] for n, rs in runs.items()}},
                              indent=2, default=str))
        return
    click.echo("\n".join(trend_lines(trends, last)))
    if show_runs:
        for name, rs in runs.items():
            click.echo(f"\n{name}")
            click.echo("\n".join(run_lines(rs)))


def trend_lines(trends: list[Trend], last: int) -> list[str]:
    from chaoskit.history.trends import sparkline

    if not trends:
        return ["no runs recorded"]
    width = min(48, max(len(t.experiment) for t in trends))
    out = [f"{'experiment':<{width}}  runs  pass rate  95% interval   flaky  TTR median  TTR (oldest→newest)",
           f"{'':-<{width}}  ----  ---------  ------------   -----  ----------  -------------------"]
    for t in trends:
        name = t.experiment if len(t.experiment) <= width else t.experiment[: width - 1] + "…"
        rate = f"{t.passed}/{t.judged} {100 * t.pass_rate:3.0f}%" if t.pass_rate is not None else "-"
        ci = f"[{100 * t.low:3.0f}%, {100 * t.high:3.0f}%]" if t.judged else "-"
        median = f"{t.ttr_median:.1f}s" if t.ttr_median is not None else "-"
        slope = t.ttr_slope
        drift = "" if slope is None or abs(slope) < 0.05 else (" slower" if slope > 0 else " faster")
        spark = sparkline([s for _, s in t.ttr][-20:]) + drift
        out.append(f"{name:<{width}}  {t.runs:>4}  {rate:>9}  {ci:>12}   {'FLAKY' if t.flaky else '':>5}  "
                   f"{median:>10}  {spark}")
    out.append(f"(last {last} runs per experiment; flaky: pass rate between 10% and 90%)")
    return out


def run_lines(runs: list[RunRecord]) -> list[str]:
    out = []
    for r in runs:
        when = dt.datetime.fromtimestamp(r.started_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        ttr = f"TTR {r.ttr:.1f}s" if r.ttr is not None else ""
        gd = f" [{r.gameday}]" if r.gameday else ""
        out.append(f"  {when}  {r.outcome.upper():<12} {r.duration:7.1f}s  {ttr:<11} {r.via}{gd}  {r.run_id}")
    return out


def _write_html(path: Path, trends: list[Trend], runs: dict[str, list[RunRecord]], source: str, last: int,
                render: bool) -> None:
    from chaoskit.history.page import render_index

    if render:
        _render_missing_reports([r for rs in runs.values() for r in rs])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_index(trends, runs, out_dir=path.parent.resolve(), source=source, last=last),
                    encoding="utf-8")
    click.echo(f"index: {path}", err=True)


def _render_missing_reports(runs: list[RunRecord]) -> None:
    from chaoskit.commands._common import plugins_or_exit
    from chaoskit.runner.journal import RESULT_FILE, read_events
    from chaoskit.runner.result import RunResult

    kind = plugins_or_exit().registry.reporters.get("html")
    if kind is None:
        return
    for run in runs:
        if run.run_dir is None or run.report() is not None:
            continue
        try:
            result = RunResult.from_json(json.loads((run.run_dir / RESULT_FILE).read_text(encoding="utf-8")))
            (run.run_dir / "report.html").write_text(kind.render(result, read_events(run.run_dir / "journal.jsonl")),
                                                     encoding="utf-8")
        except Exception as exc:  # one unreadable run costs its own report only
            click.echo(f"report for {run.run_id} not written: {type(exc).__name__}: {exc}", err=True)
