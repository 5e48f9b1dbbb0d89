"""The Markdown report: a compact summary fit for a pull-request comment.

The outcome and its reason, one table row per SLO per phase (observed, objective, status, evidence, time to
recover), and one line per fault. It is link-free: no URLs, and anything a forge would turn into a link or a
mention (``http://...``, ``@name``, ``#12``) is put in a code span.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chaoskit.report.facts import OUTCOME_MARK, STATUS_MARK, fault_state, recovery_text, verdict_rows

if TYPE_CHECKING:
    from chaoskit.runner.result import RunResult

_LINKISH = re.compile(r"://|@|#\d|^www\.", re.IGNORECASE)
_TAGLIKE = re.compile(r"<(?=[A-Za-z/!?])")  # only these start raw HTML; "<= 100ms" stays as it is


def inline(text: object) -> str:
    """``text`` as Markdown inline content on one line, with nothing that renders as a link or a mention."""
    words = []
    for word in str(text).split():
        if _LINKISH.search(word):
            word = "`" + word.replace("`", "'") + "`"
        else:
            word = _TAGLIKE.sub("&lt;", word.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_"))
        words.append(word)
    return " ".join(words)


def cell(text: object) -> str:
    """``text`` fit for a table cell (pipes escaped, even inside code spans, as GFM requires)."""
    return inline(text).replace("|", "\\|")


def render_markdown(result: RunResult) -> str:
    """The run as Markdown text."""
    outcome = result.outcome.value
    lines = [
        f"### {OUTCOME_MARK.get(outcome, '')} {outcome.upper()}: {inline(result.title)}".replace("  ", " "),
        "",
        inline(result.reason),
        "",
    ]
    rows = verdict_rows(result)
    if rows:
        lines += [
            "| SLO | phase | observed | objective | status | evidence | TTR |",
            "|:--|:--|--:|:--|:--|--:|--:|",
        ]
        for r in rows:
            status = f"{STATUS_MARK.get(r.status, '')} {r.status_text}".strip()
            evidence = f"{r.requests:,} req · {r.errors:,} err · {r.seconds:g}s"
            lines.append("| " + " | ".join(cell(c) for c in (
                r.slo, r.phase_label, r.observed_text, r.objective, status, evidence, r.ttr or "-")) + " |")
        lines.append("")
    else:
        lines += ["No SLO was judged.", ""]
    for f in result.faults:
        active = f" for {f.reverted_at - f.injected_at:.1f}s" if f.injected_at and f.reverted_at else ""
        aborted = f", aborted: {f.abort_reason}" if f.aborted else ""
        error = f", error: {f.error}" if f.error else ""
        lines.append(f"- fault **{inline(f.name)}** ({inline(f.type)}) on {inline(f.target)}: "
                     f"{fault_state(f)}{active}, {recovery_text(f)}{inline(aborted)}{inline(error)}")
    if result.faults:
        lines.append("")
    lines.append(f"<sub>run {inline(result.run_id)} · {result.duration:.1f}s · exit code {result.exit_code}</sub>")
    return "\n".join(lines) + "\n"
