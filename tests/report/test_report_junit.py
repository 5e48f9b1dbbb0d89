"""The JUnit reporter: valid against the JUnit schema CI systems use, one test case per SLO per fault."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaoskit.report.junit import render_junit
from chaoskit.runner.result import Outcome, RunResult, Status
from tests.report.report_journal import FaultPlan, SyntheticRun, verdict

xmlschema = pytest.importorskip("xmlschema", reason="xmlschema is a dev dependency: pip install -e '.[dev]'")

# Jenkins xunit's junit-10.xsd, as pytest vendors it (see junit-10.xsd.SOURCE).
SCHEMA = Path(__file__).with_name("junit-10.xsd")
TWO_FAULTS = SyntheticRun(
    seconds=40.0, source="experiments/shop.yaml",
    faults=(FaultPlan("store-latency", 12.0, 8.0), FaultPlan("store-down", 24.0, 6.0, abort_after=3.0, ttr=None)),
)


@pytest.fixture(scope="module")
def schema() -> object:
    return xmlschema.XMLSchema(SCHEMA)


def parse(schema: object, result: RunResult) -> ET.Element:
    text = render_junit(result)
    schema.validate(text)  # type: ignore[attr-defined]
    return ET.fromstring(text)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def props(suite: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}


def test_a_passing_run_is_valid_with_one_case_per_slo_per_fault(schema: object) -> None:
    run = dataclasses.replace(TWO_FAULTS, faults=(FaultPlan("store-latency", 12.0, 8.0),
                                                  FaultPlan("store-down", 24.0, 6.0)))
    root = parse(schema, run.result())
    names = list(cases(root))
    assert names == [
        "chaoskit.shop.baseline::reads-available in baseline",
        "chaoskit.shop.baseline::reads-fast in baseline",
        "chaoskit.shop.store-latency::reads-available during store-latency",
        "chaoskit.shop.store-latency::reads-fast during store-latency",
        "chaoskit.shop.store-latency::recovery after store-latency",
        "chaoskit.shop.store-down::reads-available during store-down",
        "chaoskit.shop.store-down::reads-fast during store-down",
        "chaoskit.shop.store-down::recovery after store-down",
    ]
    assert root.get("tests") == "8" and root.get("failures") == "0" and root.get("errors") == "0"
    assert not list(root.iter("failure")) and not list(root.iter("error"))


def test_figures_are_properties_of_the_fault_suite_and_lines_of_the_case(schema: object) -> None:
    root = parse(schema, TWO_FAULTS.result())
    suites = {s.get("name", "").rsplit(": ", 1)[1]: s for s in root.iter("testsuite")}
    fault = props(suites["fault store-latency"])
    assert fault["reads-fast.observed"] == "p95 314.0ms" and fault["reads-fast.objective"] == "p95 <= 1000ms"
    assert fault["reads-fast.requests"] == "692" and fault["reads-fast.seconds"] == "8"
    assert fault["reads-fast.ttr"] == "0.80s" and fault["fault.ttr"] == "0.80s"
    assert fault["fault.target"] == "proxy store" and fault["fault.verified"] == "yes"
    run = props(suites["baseline"])
    assert run["chaoskit.outcome"] == "passed" and run["chaoskit.source"] == "experiments/shop.yaml"
    case = cases(root)["chaoskit.shop.store-latency::reads-fast during store-latency"]
    assert case.get("time") == "8.000"
    out = case.findtext("system-out") or ""
    assert "observed: p95 314.0ms" in out and "requests: 692" in out


def test_a_breach_is_a_failure_and_a_missing_recovery_too(schema: object) -> None:
    run = dataclasses.replace(TWO_FAULTS, verdicts=[
        verdict("reads-available", "success_rate", "baseline", None, Status.MET, ">= 99%", 1.0, "100.00%", 8.0),
        verdict("reads-available", "success_rate", "observe", "store-down", Status.BREACHED, ">= 99%", 0.41,
                "41.00%", 3.0, requests=300, errors=177),
    ])
    root = parse(schema, run.result(Outcome.FAILED, "SLO reads-available broke during fault store-down"))
    by = cases(root)
    failure = by["chaoskit.shop.store-down::reads-available during store-down"].find("failure")
    assert failure is not None and failure.get("type") == "SloBreached"
    assert "observed 41.00%, objective >= 99% (300 requests, 177 errors, 3s)" in (failure.get("message") or "")
    recovery = by["chaoskit.shop.store-down::recovery after store-down"].find("failure")
    assert recovery is not None and "did not recover" in (recovery.get("message") or "")
    assert root.get("failures") == "2"
    down = next(s for s in root.iter("testsuite") if s.get("name", "").endswith("fault store-down"))
    assert props(down)["fault.aborted"] == "yes" and "41.00%" in props(down)["fault.abort_reason"]


def test_too_little_evidence_is_skipped_not_passed(schema: object) -> None:
    run = dataclasses.replace(TWO_FAULTS, faults=(), verdicts=[
        verdict("reads-available", "success_rate", "baseline", None, Status.INSUFFICIENT, ">= 99%", 1.0, "100.00%",
                2.0, requests=40, detail="40 requests; needs 149"),
    ])
    root = parse(schema, run.result(Outcome.INCONCLUSIVE, "baseline cannot show the steady state"))
    skipped = next(root.iter("skipped"))
    assert "40 requests; needs 149" in (skipped.get("message") or "")
    assert next(root.iter("testsuite")).get("skipped") == "1"


def test_a_fault_left_behind_is_an_error(schema: object) -> None:
    run = dataclasses.replace(TWO_FAULTS, faults=(FaultPlan("kill-api", 12.0, 2.0, revert_error="api did not start"),))
    root = parse(schema, run.result(Outcome.ERROR, "fault kill-api could not be reverted"))
    error = cases(root)["chaoskit.shop.kill-api::recovery after kill-api"].find("error")
    assert error is not None and "api did not start" in (error.get("message") or "")
    assert root.get("errors") == "1"


def test_a_run_that_ended_before_any_verdict_is_one_error_case(schema: object) -> None:
    run = dataclasses.replace(TWO_FAULTS, faults=())
    result = dataclasses.replace(run.result(Outcome.ERROR, "target api never became ready"), verdicts=[])
    root = parse(schema, result)
    (case,) = root.iter("testcase")
    error = case.find("error")
    assert case.get("name") == "run" and error is not None
    assert error.get("message") == "ERROR: target api never became ready"


def test_text_that_xml_cannot_hold_is_replaced(schema: object) -> None:
    result = TWO_FAULTS.result(Outcome.PASSED, "bell \x07 and <tags> & quotes \"")
    root = parse(schema, result)
    assert props(next(root.iter("testsuite")))["chaoskit.reason"] == "bell ? and <tags> & quotes \""
