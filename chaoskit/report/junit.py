"""The JUnit XML report, so any CI shows a run as tests.

Layout (valid against the Jenkins xunit ``junit-10.xsd`` that CI systems and pytest use)::

    <testsuites name="chaoskit" ...>
      <testsuite name="<experiment>: baseline">      one <testcase> per SLO (the steady state)
      <testsuite name="<experiment>: fault NAME">    one <testcase> per SLO judged during the fault,
                                                     plus "recovery after NAME"

A breached SLO or a missing recovery is a ``<failure>``; a fault that could not be injected or reverted, or a run
that ended in ERROR/INTERRUPTED/INVALID, is an ``<error>``; too little evidence is ``<skipped>``. The schema
allows ``<properties>`` only on a ``<testsuite>``, so every figure (observed value, objective, requests, errors,
span, TTR, and any statistic the judge added) is a suite property named ``<slo>.<figure>``, and is repeated as
``key: value`` lines in the test case's ``<system-out>``.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit.report.facts import VerdictRow, number, recovery_text, ttr_text, verdict_rows

if TYPE_CHECKING:
    from chaoskit.runner.result import FaultRecord, RunResult

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    return _ILLEGAL_XML.sub("?", str(text))


def _time(seconds: float | None) -> str:
    """Seconds with at most 3 decimals (the schema's SUREFIRE_TIME)."""
    return f"{max(seconds or 0.0, 0.0):.3f}"


class _Suite:
    def __init__(self, name: str, classname: str, timestamp: str, run_id: str) -> None:
        self.element = ET.Element("testsuite", name=_clean(name), timestamp=timestamp, id=_clean(run_id),
                                  hostname=_clean(socket.gethostname()))
        self.properties = ET.SubElement(self.element, "properties")
        self.classname = classname
        self.tests = self.failures = self.errors = self.skipped = 0
        self.time = 0.0

    def prop(self, name: str, value: object) -> None:
        if value is None or value == "":
            return
        ET.SubElement(self.properties, "property", name=_clean(name), value=_clean(value))

    def case(self, name: str, seconds: float, outcome: str | None, message: str, figures: dict[str, str]) -> None:
        """``outcome``: None (passed), ``failure``, ``error`` or ``skipped``."""
        case = ET.SubElement(self.element, "testcase", name=_clean(name), classname=_clean(self.classname),
                             time=_time(seconds))
        self.tests += 1
        self.time = max(self.time, seconds)  # cases of one suite judge the same span of time
        if outcome is not None:
            node = ET.SubElement(case, outcome, message=_clean(message))
            if outcome != "skipped":
                node.set("type", {"failure": "SloBreached", "error": "ChaoskitError"}[outcome])
                node.text = _clean(message)
            self.failures += outcome == "failure"
            self.errors += outcome == "error"
            self.skipped += outcome == "skipped"
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n".join(f"{k}: {v}" for k, v in figures.items()))

    def close(self) -> ET.Element:
        for attr, value in (("tests", self.tests), ("failures", self.failures), ("errors", self.errors),
                            ("skipped", self.skipped)):
            self.element.set(attr, str(value))
        self.element.set("time", _time(self.time))
        return self.element


def _slo_case(suite: _Suite, row: VerdictRow) -> None:
    figures = row.figures()
    for key, value in figures.items():
        suite.prop(f"{row.slo}.{key}", value)
    name = f"{row.slo} {row.phase_label}" if row.fault else f"{row.slo} in {row.phase}"
    if row.status == "breached":
        outcome, message = "failure", (f"SLO {row.slo} breached in {row.phase_label}: observed {row.observed_text}, "
                                       f"objective {row.objective} ({row.evidence_text})")
    elif row.status == "met":
        outcome, message = None, ""
    else:
        outcome, message = "skipped", f"too little evidence for SLO {row.slo} in {row.phase_label}: {row.detail}"
    suite.case(name, row.seconds, outcome, message, figures)


def _recovery_case(suite: _Suite, fault: str, records: list[FaultRecord]) -> None:
    figures: dict[str, str] = {}
    for r in records:
        figures.update({
            "target": r.target, "type": r.type, "ledger_id": r.ledger_id or "",
            "injected_at": number(r.injected_at), "reverted_at": number(r.reverted_at),
            "verified": number(r.verified), "aborted": number(r.aborted), "abort_reason": r.abort_reason or "",
            "recovery": recovery_text(r), "error": r.error or "",
        })
    figures = {k: v for k, v in figures.items() if v}
    ttr = ttr_text(records)
    for key, value in figures.items():
        suite.prop(f"fault.{key}", value)
    suite.prop("fault.ttr", ttr)
    errors = [f"{r.target}: {r.error}" for r in records if r.error]
    unreverted = [r.target for r in records if r.injected_at and not r.verified]
    seconds = max((r.recovery_seconds or 0.0 for r in records), default=0.0)
    name = f"recovery after {fault}"
    if errors or unreverted:
        message = "; ".join(errors) or f"not reverted: {', '.join(unreverted)} (run `chaoskit recover`)"
        suite.case(name, seconds, "error", f"fault {fault}: {message}", figures)
    elif any(r.recovered is False for r in records):
        suite.case(name, seconds, "failure", f"the system did not recover after fault {fault} was reverted", figures)
    elif not any(r.recovered for r in records):
        suite.case(name, seconds, "skipped", f"recovery after fault {fault} was not measured", figures)
    else:
        suite.case(name, seconds, None, "", {**figures, "ttr": ttr})


def render_junit(result: RunResult) -> str:
    """The run as JUnit XML text."""
    timestamp = dt.datetime.fromtimestamp(result.started_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    stem = Path(result.source).stem if result.source else re.sub(r"\W+", "-", result.title.lower()).strip("-")
    prefix = f"chaoskit.{stem}"

    def suite(label: str, classname: str) -> _Suite:
        return _Suite(f"{result.title}: {label}", f"{prefix}.{classname}", timestamp, result.run_id)

    rows = verdict_rows(result)
    suites: dict[str | None, _Suite] = {}
    run_suite = suites[None] = suite("baseline", "baseline")
    for key, value in (("outcome", result.outcome.value), ("reason", result.reason), ("run_id", result.run_id),
                       ("source", result.source), ("journal", result.journal),
                       ("duration", f"{result.duration:.3f}"), ("exit_code", result.exit_code)):
        run_suite.prop(f"chaoskit.{key}", value)
    faults = list(dict.fromkeys([*(r.fault for r in rows if r.fault), *(f.name for f in result.faults)]))
    for fault in faults:
        suites[fault] = suite(f"fault {fault}", fault)
    for row in rows:
        _slo_case(suites.get(row.fault) or run_suite, row)
    for fault in faults:
        records = [f for f in result.faults if f.name == fault]
        if records:
            _recovery_case(suites[fault], fault, records)
    outcome = result.outcome.value
    if outcome in ("error", "interrupted", "invalid") and not any(s.errors for s in suites.values()):
        run_suite.case("run", result.duration, "error", f"{outcome.upper()}: {result.reason}", {"outcome": outcome})
    elif not rows and not result.faults:
        run_suite.case("run", result.duration, "skipped", f"{outcome.upper()}: {result.reason}", {"outcome": outcome})
    root = ET.Element("testsuites", name="chaoskit")
    closed = [s.close() for s in suites.values() if s.tests or s is run_suite]
    root.extend(closed)
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in closed)))
    root.set("time", _time(result.duration))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
