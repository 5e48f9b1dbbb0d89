"""The stock reporters, registered through the same hook a third-party reporter uses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chaoskit.plugins import hookimpl
from chaoskit.registry import Registry, ReporterKind

if TYPE_CHECKING:  # registering must stay cheap: validate never renders a result
    from chaoskit.runner.result import RunResult


def _json(result: RunResult, events: list[dict[str, Any]]) -> str:
    return json.dumps(result.to_json(), indent=2, default=str) + "\n"


def _text(result: RunResult, events: list[dict[str, Any]]) -> str:
    from chaoskit.report.text import render_text

    return render_text(result) + "\n"


def _html(result: RunResult, events: list[dict[str, Any]]) -> str:
    from chaoskit.report.html import render_html

    return render_html(result, events)


def _junit(result: RunResult, events: list[dict[str, Any]]) -> str:
    from chaoskit.report.junit import render_junit

    return render_junit(result)


def _markdown(result: RunResult, events: list[dict[str, Any]]) -> str:
    from chaoskit.report.markdown import render_markdown

    return render_markdown(result)


@hookimpl
def chaoskit_register_reporters(register: Registry) -> None:
    register.add_reporter(ReporterKind("json", ".json", _json, "The RunResult as JSON."))
    register.add_reporter(ReporterKind("text", ".txt", _text, "The verdict table as plain text."))
    register.add_reporter(ReporterKind(
        "html", ".html", _html, "One offline HTML file: verdict, timeline charts with fault windows, ledger."))
    register.add_reporter(ReporterKind(
        "junit", ".junit.xml", _junit, "JUnit XML: a test case per SLO per phase and per recovery, for CI."))
    register.add_reporter(ReporterKind("md", ".md", _markdown, "A compact Markdown summary for a pull request."))
