"""The robustness section of the reports: one row per endpoint, every finding with its curl.

The report writers in conformance/reports own their files; these render the fuzz part of a run
(`RunResults.fuzz`) for them in each format, so fuzz results read the same everywhere.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from conformance.fuzz.results import EndpointFuzzResult, FuzzFailure, FuzzResults, FuzzVerdict

TITLE = "Robustness (schema fuzzing)"
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _kind(failure: FuzzFailure) -> str:
    return "valid request" if failure.mode == "positive" else "invalid request"


def _scope(fuzz: FuzzResults) -> str:
    coverage = " plus boundary values" if fuzz.coverage else ""
    stopped = "" if fuzz.stop_reason == "completed" else f"; stopped early: {fuzz.stop_reason}"
    return (
        f"{fuzz.total_requests} generated requests ({fuzz.max_examples} per endpoint and input kind"
        f"{coverage}), seed {fuzz.seed}, schemathesis {fuzz.schemathesis_version}{stopped}"
    )


def _findings(endpoint: EndpointFuzzResult) -> str:
    if endpoint.failures:
        return "; ".join(sorted({f.title for f in endpoint.failures}))
    return "; ".join(endpoint.errors) or "none"


# --- markdown ------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_section(fuzz: FuzzResults) -> str:
    lines = [f"## {TITLE}", "", _scope(fuzz), ""]
    lines += [
        "| endpoint | verdict | valid requests | invalid requests | findings |",
        "|---|---|---|---|---|",
    ]
    for e in fuzz.endpoints:
        row = [e.endpoint, e.verdict.value, str(e.positive_requests), str(e.negative_requests), _findings(e)]
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    number = 0
    for e in fuzz.endpoints:
        for f in e.failures:
            number += 1
            status = f" → {f.status}" if f.status is not None else ""
            lines += ["", f"**{number}. {e.endpoint}: {f.title}** ({_kind(f)}{status})", ""]
            lines += ["```text", f.message.strip(), "```"]
            if f.curl:
                lines += ["", "```sh", f.curl, "```"]
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_section(fuzz: FuzzResults) -> str:
    """A `<section id="robustness">` fragment: escaped, no scripts, no external resources."""
    rows = "".join(
        f"<tr class='{_e(e.verdict.value)}'><td>{_e(e.endpoint)}</td><td>{_e(e.verdict.value)}</td>"
        f"<td>{e.positive_requests}</td><td>{e.negative_requests}</td><td>{_e(_findings(e))}</td></tr>"
        for e in fuzz.endpoints
    )
    findings = []
    for e in fuzz.endpoints:
        for f in e.failures:
            status = f" → {f.status}" if f.status is not None else ""
            body = [f"<pre>{_e(f.message.strip())}</pre>"]
            if f.response_excerpt:
                body.append(f"<p>Response:</p><pre>{_e(f.response_excerpt)}</pre>")
            if f.curl:
                body.append(f"<p>Reproduce with:</p><pre>{_e(f.curl)}</pre>")
            findings.append(
                f"<details><summary>{_e(e.endpoint)}: {_e(f.title)} ({_e(_kind(f))}{_e(status)})</summary>"
                + "".join(body)
                + "</details>"
            )
    return (
        f"<section id='robustness'><h2>{_e(TITLE)}</h2><p>{_e(_scope(fuzz))}</p>"
        "<table><thead><tr><th>endpoint</th><th>verdict</th><th>valid requests</th>"
        f"<th>invalid requests</th><th>findings</th></tr></thead><tbody>{rows}</tbody></table>"
        + "".join(findings)
        + "</section>"
    )


# --- JUnit ---------------------------------------------------------------------------------------


def junit_testsuite(fuzz: FuzzResults, classprefix: str = "") -> ET.Element:
    """`<testsuite name="fuzz">`: one testcase per endpoint, its findings in the failure text."""
    failures = sum(1 for e in fuzz.endpoints if e.verdict is FuzzVerdict.FAIL)
    errors = sum(1 for e in fuzz.endpoints if e.verdict is FuzzVerdict.ERROR)
    suite = ET.Element(
        "testsuite",
        name=f"{classprefix}fuzz",
        tests=str(len(fuzz.endpoints)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{sum(e.duration_s for e in fuzz.endpoints):.3f}",
    )
    for e in fuzz.endpoints:
        case = ET.SubElement(
            suite,
            "testcase",
            name=_x(f"fuzz.{e.endpoint}"),
            classname=_x(f"{classprefix}fuzz.{e.endpoint}"),
            time=f"{e.duration_s:.3f}",
        )
        if e.verdict is FuzzVerdict.FAIL:
            text = "\n\n".join(
                f"{f.title} ({_kind(f)}, {f.check})\n{f.message.strip()}\n{f.curl}" for f in e.failures
            )
            ET.SubElement(case, "failure", message=_x(_findings(e)), type="robustness").text = _x(text)
        elif e.verdict is FuzzVerdict.ERROR:
            ET.SubElement(case, "error", message=_x(_findings(e)), type="not-fuzzed").text = _x(
                "\n".join(e.errors)
            )
    return suite
