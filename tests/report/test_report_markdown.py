"""The Markdown reporter: renders as a table (markdown-it-py, GFM tables), compact, link-free."""

from __future__ import annotations

import dataclasses

from markdown_it import MarkdownIt
from markdown_it.token import Token

from chaoskit.report.markdown import render_markdown
from chaoskit.runner.result import Outcome, Status
from tests.report.report_journal import FaultPlan, SyntheticRun, verdict

RUN = SyntheticRun(
    seconds=40.0,
    faults=(FaultPlan("store-latency", 12.0, 8.0), FaultPlan("store-down", 24.0, 6.0, abort_after=3.0, ttr=None)),
)


def tokens(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def rendered_table_rows(text: str) -> list[list[str]]:
    """Cell texts as a reader sees them (inline markup resolved)."""
    rows: list[list[str]] = []
    inside = False
    for tok in tokens(text):
        if tok.type == "table_open":
            inside = True
        elif tok.type == "table_close":
            inside = False
        elif inside and tok.type == "tr_open":
            rows.append([])
        elif inside and tok.type == "inline":
            rows[-1].append("".join(c.content for c in tok.children or [] if c.type in ("text", "code_inline")))
    return rows


def test_outcome_first_then_one_table_row_per_slo_per_phase() -> None:
    text = render_markdown(RUN.result())
    first = tokens(text)[:3]
    assert first[0].type == "heading_open" and first[1].content == "✅ PASSED: The shop keeps serving products when "\
        "its store is slow"
    rows = rendered_table_rows(text)
    assert rows[0] == ["SLO", "phase", "observed", "objective", "status", "evidence", "TTR"]
    assert len(rows) == 1 + 6
    assert rows[1] == ["reads-available", "baseline", "100.00%", ">= 99%", "✅ met", "692 req · 0 err · 8s", "-"]
    assert rows[3][1] == "during store-latency" and rows[3][-1] == "0.80s"
    assert rows[5][1] == "during store-down" and rows[5][-1] == "not recovered"


def test_a_failure_says_which_slo_broke_with_its_figures() -> None:
    run = dataclasses.replace(RUN, verdicts=[
        verdict("reads-available", "success_rate", "observe", "store-down", Status.BREACHED, ">= 99%", 0.41,
                "41.00%", 3.0, requests=300, errors=177),
    ])
    text = render_markdown(run.result(Outcome.FAILED, "SLO reads-available broke during fault store-down"))
    assert text.startswith("### ❌ FAILED: ")
    rows = rendered_table_rows(text)
    assert rows[1] == ["reads-available", "during store-down", "41.00%", ">= 99%", "❌ BREACHED",
                       "300 req · 177 err · 3s", "not recovered"]
    assert "aborted: success rate 41.00% < 50% over 3s" in text


def test_it_is_compact() -> None:
    text = render_markdown(RUN.result())
    assert len(text.splitlines()) <= 20 and len(text) < 2500


def test_nothing_renders_as_a_link_a_mention_or_html() -> None:
    run = dataclasses.replace(RUN, title="Checkout | cart <b>bold</b> for @team, see #12",
                              faults=(FaultPlan("probe-down", 12.0, 8.0, target="http://127.0.0.1:8080/health"),))
    result = run.result(Outcome.ERROR, "probe https://127.0.0.1:8080/health failed; ask @ops about #12 <img src=x>")
    text = render_markdown(result)
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<a " not in html and "<b>" not in html and "<img" not in html
    for tok in tokens(text):
        for child in tok.children or []:
            if child.type == "text":  # outside code spans nothing looks like a URL, a mention or an issue ref
                assert "://" not in child.content and "@" not in child.content and "#1" not in child.content
    assert "`https://127.0.0.1:8080/health`" in text and "`@ops`" in text


def test_a_pipe_in_a_name_does_not_break_the_table() -> None:
    run = dataclasses.replace(RUN, faults=(), verdicts=[
        verdict("a|b", "success_rate", "baseline", None, Status.MET, ">= 99%", 1.0, "100.00%", 8.0)])
    rows = rendered_table_rows(render_markdown(run.result()))
    assert rows[1][0] == "a|b" and len(rows[1]) == 7
    assert "| a\\|b |" in render_markdown(run.result())
