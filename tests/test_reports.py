"""Report renderers on a hand-built run holding every verdict and cell state (no server needed)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_reports_sample import HOSTILE, LEAKED_KEY, sample_cases, sample_results

from conformance import reports
from conformance.reports import markdown, view
from conformance.reports.scrub import REDACTED, scrub
from conformance.results import CellState, Verdict, load


@pytest.mark.parametrize("fmt", sorted(reports.FORMATS))
def test_every_format_scrubs_the_key(fmt: str) -> None:
    """The sample leaks the key into a header and the run options; no format may carry it out."""
    for runs in ([sample_results()], [sample_results("a"), sample_results("b")]):
        text = reports.render(fmt, runs, [LEAKED_KEY])
        assert LEAKED_KEY not in text
        assert LEAKED_KEY[3:] not in text
        if fmt in ("json", "html"):
            assert REDACTED in text


@pytest.mark.parametrize("fmt", sorted(reports.FORMATS))
def test_credential_headers_are_masked_even_when_the_key_is_unknown(fmt: str) -> None:
    text = reports.render(fmt, [sample_results(cases=sample_cases()[:2])])
    assert "Bearer sk-" not in text
    if fmt in ("json", "html"):
        assert f"Bearer {REDACTED}" in text


def test_scrub_catches_escaped_forms_and_spares_short_keys() -> None:
    key = 'sk-"quoted"\\<tag>&-1234'
    rendered = [
        json.dumps({"k": key}),
        f"<td>{key.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</td>",
    ]
    rendered.append(
        f'<a title="{key.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(chr(34), "&quot;")}">'
    )
    for text in rendered:
        assert "quoted" not in scrub(text, [key]), text
    assert scrub("x marks the spot", ["x"]) == "x marks the spot"
    assert scrub("no secrets", [None, ""]) == "no secrets"


def _md_tables(text: str) -> list[list[list[str]]]:
    """GitHub tables in the Markdown, as rows of cells, splitting on unescaped pipes only."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markdown_matrix_rows_states_and_order() -> None:
    text = markdown.render([sample_results()])
    all_tables = _md_tables(text)
    tables = [t for t in all_tables if t[0][0] != "Feature"]  # the feature checklists: tests/test_features.py
    assert [t[0] for t in tables] == [["Parameter", "State", "Evidence"]] * 3
    assert {tuple(t[0]) for t in all_tables if t[0][0] == "Feature"} == {("Feature", "State")}
    rows = {r[0].strip("`"): r for t in tables for r in t[2:]}
    assert all(len(r) == 3 for r in rows.values()), "an escaped pipe broke a row"
    expected = {
        "temperature": CellState.SUPPORTED,
        "stop": CellState.IGNORED,
        "response_format": CellState.SCHEMA_INVALID,
        "logit_bias": CellState.REJECTED,
        "n": CellState.BROKEN,
        "seed": CellState.UNTESTED,
        "top_k": CellState.SUPPORTED,
        "min_p": CellState.IGNORED,
        "list": CellState.SUPPORTED,
    }
    assert {p: r[1] for p, r in rows.items()} == {p: view.state_label(s) for p, s in expected.items()}
    assert "a\\|b" in rows["stop"][2] and "<script" not in text
    # Core rows of an endpoint come before its extension profile's rows.
    assert text.index("`temperature`") < text.index("vllm extensions") < text.index("`top_k`")
    assert text.index("vllm extensions") < text.index("## `models`")
    for fact in ("acme &lt;labs>", "`smol&lt;lm>`", "http://127.0.0.1:9/v1", "2025-01-02", "0.1.0"):
        assert fact in text
    assert "3 pass, 3 fail, 1 unsupported, 1 error, 1 skipped" in text


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attr = dict(attrs)
        if attr.get("id"):
            self.ids.add(attr["id"] or "")
        if "href" in attr:
            self.hrefs.append(attr["href"] or "")
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse_html(text: str) -> _Html:
    parser = _Html()
    parser.feed(text)
    parser.close()
    assert not parser.stack, f"unclosed tags {parser.stack}"
    return parser


def test_html_is_self_contained_escaped_and_linked() -> None:
    run = sample_results()
    text = reports.render("html", [run])
    page = _parse_html(text)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert all(h.startswith("#") and h[1:] in page.ids for h in page.hrefs)
    assert len(page.hrefs) == len(view.cells_of(run))  # every matrix cell links to its deciding case
    assert page.tags.count("details") >= len(run.cases)
    visible = "".join(page.text)
    assert HOSTILE in visible  # shown to the reader as text...
    assert "&lt;script&gt;" in text  # ...because it was escaped
    for case in run.cases:
        assert case.case_id in visible
    for evidence in (
        "POST http://127.0.0.1:9/v1/chat/completions",
        "ReadTimeout",
        "unknown parameter",
        "</b>",
    ):
        assert evidence in visible
    for state in CellState:
        assert view.state_label(state) in visible


def test_junit_parses_and_counts_match() -> None:
    run = sample_results()
    root = ET.fromstring(reports.render("junit", [run]).encode())
    suites = root.findall("testsuite")
    assert sorted(s.get("name") for s in suites) == ["chat.completions", "models"]
    counts = run.counts()
    assert root.get("tests") == str(len(run.cases))
    assert root.get("failures") == str(counts["fail"] + counts["unsupported"])
    assert root.get("errors") == str(counts["error"])
    assert root.get("skipped") == str(counts["skipped"])
    for suite in suites:
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert len(by_name) == len(run.cases)
    for case in run.cases:
        tc = by_name[case.case_id]
        kids = [child.tag for child in tc if child.tag != "system-out"]
        expected = {
            Verdict.PASS: [],
            Verdict.FAIL: ["failure"],
            Verdict.UNSUPPORTED: ["failure"],
            Verdict.ERROR: ["error"],
            Verdict.SKIPPED: ["skipped"],
        }[case.verdict]
        assert kids == expected, case.case_id
        if kids:
            assert tc[0].get("message") == view.one_line(case.reason, 1000)
    assert by_name["chat.logit_bias.ban"][0].get("type") == "unsupported"
    assert by_name["chat.response_format.json_schema"][0].get("type") == "schema"
    assert "\ufffd" in (by_name["chat.stop.substring"][0].text or "")  # the NUL byte, made XML-legal


def test_json_round_trips_through_load(tmp_path: Path) -> None:
    run = sample_results()
    path = tmp_path / "results.json"
    path.write_text(reports.render("json", [run], [LEAKED_KEY]), encoding="utf-8")
    back = load(path)
    assert back.cases[1].evidence[0].request_headers["Authorization"] == f"Bearer {REDACTED}"
    assert back.model_dump(exclude={"run": {"options"}, "cases": True}) == run.model_dump(
        exclude={"run": {"options"}, "cases": True}
    )
    assert [c.verdict for c in back.cases] == [c.verdict for c in run.cases]


def test_cells_are_derived_when_the_file_has_none() -> None:
    run = sample_results()
    bare = run.model_copy(update={"cells": []})
    assert markdown.render([bare]) == markdown.render([run])


def test_merged_reports_put_providers_side_by_side() -> None:
    first = sample_results("alpha")
    second = sample_results("beta", [c for c in sample_cases() if c.parameter != "stop"])
    md = markdown.render([first, second])
    header = next(t[0] for t in _md_tables(md) if t[0][0] == "Parameter")
    assert header == ["Parameter", "alpha", "beta"]
    stop_row = next(r for t in _md_tables(md) for r in t if r[0] == "`stop`")
    assert stop_row == ["`stop`", view.state_label(CellState.IGNORED), "not run"]

    page = _parse_html(reports.render("html", [first, second]))
    assert all(h[1:] in page.ids for h in page.hrefs)
    assert "not run" in "".join(page.text)

    root = ET.fromstring(reports.render("junit", [first, second]).encode())
    assert {s.get("name") for s in root.findall("testsuite")} == {
        "alpha: chat.completions",
        "alpha: models",
        "beta: chat.completions",
        "beta: models",
    }
    assert json.loads(reports.render("json", [first, second]))[1]["run"]["provider"] == "beta"
    # Same provider twice (e.g. two runs of one server): columns stay distinct.
    assert len(set(view.column_labels([first, sample_results("alpha")]))) == 2


def test_write_run_reports_writes_the_four_files(tmp_path: Path) -> None:
    written = reports.write_run_reports(sample_results(), tmp_path / "out", [LEAKED_KEY])
    assert sorted(p.name for p in written.values()) == [
        "junit.xml",
        "matrix.md",
        "report.html",
        "results.json",
    ]
    for path in written.values():
        assert LEAKED_KEY not in path.read_text(encoding="utf-8")


def test_console_summary_lists_what_needs_attention_as_plain_text() -> None:
    from rich.console import Console

    from conformance.reports.console import print_summary

    cases = sample_cases()
    cases[4] = cases[4].model_copy(update={"reason": f"[bold red]markup[/] is data, key {LEAKED_KEY}"})
    console = Console(record=True, width=200, color_system=None)
    print_summary(console, sample_results(cases=cases), [LEAKED_KEY])
    text = console.export_text()
    assert LEAKED_KEY not in text
    assert "[bold red]markup[/] is data" in text
    for parameter in ("stop", "response_format", "logit_bias", "n", "seed", "min_p (vllm)"):
        assert f" {parameter} " in text, parameter
    assert " temperature " not in text and " top_k " not in text  # supported: not listed
    assert "Core parameters supported: 2/7" in text
