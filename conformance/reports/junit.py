"""junit.xml: the run as test results, so any CI system can show and track it without knowing our format.

One testsuite per endpoint, one testcase per case. A refused parameter is a failure, not a skip: the
server does not do what OpenAI's API does, and a CI dashboard should show that in red.

A testcase's outcome is the behaviour axis alone. The wire axis rides along as properties ("wire",
one "violation" each) and in system-out, with failures under concurrent requests and notes: a schema
nit must not turn a working parameter red, but a CI dashboard should still carry it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from conformance.fuzz import report as fuzz_report
from conformance.reports import sdks, view
from conformance.results import CaseResult, RunResults, Verdict, WireState

# Characters XML 1.0 cannot carry at all, not even escaped; a response excerpt may hold any of them.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _details(case: CaseResult) -> str:
    """The failure's body: every expectation with its outcome, then what was sent and what came back."""
    lines = [case.reason, ""] if case.reason else []
    for check in case.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"[{mark}] {check.expectation}" + (f" -- {check.detail}" if check.detail else ""))
    for ex in case.evidence:
        status = ex.status if ex.status is not None else (ex.error or "no response")
        lines.append(f"{ex.label or 'request'} ({ex.via}): {ex.method} {ex.url} -> {status}")
        if ex.error and ex.status is not None:
            lines.append(f"  error: {ex.error}")
        if ex.response_excerpt:
            lines.append("  " + view.one_line(ex.response_excerpt, 500))
    return "\n".join(lines).strip()


def _wire_properties(el: ET.Element, case: CaseResult) -> None:
    if case.wire is WireState.UNKNOWN:
        return
    props = ET.SubElement(el, "properties")
    ET.SubElement(props, "property", name="wire", value=case.wire.value)
    for violation in case.violations:
        ET.SubElement(props, "property", name="violation", value=_x(view.one_line(violation, 1000)))


def _system_out(case: CaseResult) -> str:
    """What the case found beside its verdict: wire violations, a failure under concurrency, notes."""
    lines = [f"wire: {case.wire.value}"] if case.wire is not WireState.UNKNOWN else []
    lines += [f"  violation: {v}" for v in case.violations]
    if case.under_concurrency:
        lines.append(f"fails under concurrent requests (passed alone): {case.under_concurrency}")
    lines += [f"note: {n}" for n in case.notes]
    return "\n".join(lines) if case.violations or case.under_concurrency or case.notes else ""


def _testcase(parent: ET.Element, case: CaseResult, classprefix: str) -> None:
    el = ET.SubElement(
        parent,
        "testcase",
        name=_x(case.case_id),
        classname=_x(f"{classprefix}{case.endpoint}.{case.parameter}"),
        time=f"{case.duration_s:.3f}",
    )
    _wire_properties(el, case)
    message = _x(view.one_line(case.reason, 1000))
    if case.verdict is Verdict.FAIL:
        kind = case.failure_kind.value if case.failure_kind else "fail"
        ET.SubElement(el, "failure", message=message, type=kind).text = _x(_details(case))
    elif case.verdict is Verdict.UNSUPPORTED:
        ET.SubElement(el, "failure", message=message, type="unsupported").text = _x(_details(case))
    elif case.verdict is Verdict.ERROR:
        ET.SubElement(el, "error", message=message, type="error").text = _x(_details(case))
    elif case.verdict is Verdict.SKIPPED:
        ET.SubElement(el, "skipped", message=message)
    elif case.verdict is Verdict.INCONCLUSIVE:  # no evidence either way: neither passed nor failed
        ET.SubElement(el, "skipped", message=f"inconclusive: {message}", type="inconclusive")
    found = _system_out(case)
    if found:
        ET.SubElement(el, "system-out").text = _x(found)


def _tally(cases: Sequence[CaseResult]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(c.verdict in (Verdict.FAIL, Verdict.UNSUPPORTED) for c in cases)),
        "errors": str(sum(c.verdict is Verdict.ERROR for c in cases)),
        "skipped": str(sum(c.verdict in (Verdict.SKIPPED, Verdict.INCONCLUSIVE) for c in cases)),
        "time": f"{sum(c.duration_s for c in cases):.3f}",
    }


def render(runs: Sequence[RunResults]) -> str:
    labels = view.column_labels(runs)
    merged = len(runs) > 1
    root = ET.Element("testsuites", name="openai-conformance")
    all_cases: list[CaseResult] = []
    for label, run in zip(labels, runs, strict=True):
        prefix = f"{label}: " if merged else ""
        classprefix = f"{label}." if merged else ""
        for endpoint, cases in view.cases_by_endpoint(run).items():
            suite = ET.SubElement(
                root,
                "testsuite",
                name=_x(prefix + endpoint),
                timestamp=run.run.started_at.isoformat(timespec="seconds"),
                **_tally(cases),
            )
            props = ET.SubElement(suite, "properties")
            for key, value in (
                ("provider", run.run.provider),
                ("model", run.run.model),
                ("base_url", run.run.base_url),
                ("tool_version", run.run.tool_version),
            ):
                ET.SubElement(props, "property", name=key, value=_x(value))
            for case in cases:
                _testcase(suite, case, _x(classprefix))
            all_cases += cases
        for sdk, endpoint, cases in sdks.by_sdk_and_endpoint(run):  # `run --sdk python,node`: the replays
            started = run.run.started_at.isoformat(timespec="seconds")
            suite = ET.SubElement(
                root, "testsuite", name=_x(f"{prefix}{sdk} SDK: {endpoint}"), timestamp=started, **_tally(cases)
            )
            for case in cases:
                _testcase(suite, case, _x(f"{classprefix}{sdk}."))
            all_cases += cases
        if run.fuzz is not None:
            root.append(fuzz_report.junit_testsuite(run.fuzz, classprefix))
    root.attrib.update(_tally(all_cases))
    for key in ("tests", "failures", "errors"):  # the fuzz suites count too: a CI gate reads the totals
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
