"""Report renderers on a hand-built run holding every verdict, cell and wire state (no server needed),
on a committed format 1 run, and on one real run whose embeddings endpoint is not served."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mutating_proxy import Mutation, error, running_proxy
from test_cli import conformance
from test_reports_sample import (
    HOSTILE,
    LEAKED_KEY,
    NO_ROUTE,
    NOT_SERVED,
    NOTE,
    SDK_BROKEN,
    UNDER_CONCURRENCY,
    VIOLATION,
    sample_cases,
    sample_results,
)

from conformance import reports
from conformance.providers import Claim, find_profile
from conformance.reports import findings, markdown, sdks, view
from conformance.reports.claims import claims_report
from conformance.reports.scrub import REDACTED, scrub
from conformance.results import CellState, Verdict, WireState, load
from reference_server.launcher import RunningServer


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


def test_credential_headers_of_other_sdks_replays_are_masked_too() -> None:
    cases = sample_cases()[:2]
    replays = [case.model_copy(update={"sdk": "node"}) for case in cases]
    text = reports.render("json", [sample_results(cases=cases).model_copy(update={"sdk_cases": replays})])
    assert "Bearer sk-" not in text and f"Bearer {REDACTED}" in text


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
    tables = [t for t in all_tables if t[0][0] == "Parameter"]  # not the features nor repeatability
    assert [t[0] for t in tables] == [["Parameter", "Behaviour", "Wire", "Evidence"]] * 4
    assert {tuple(t[0]) for t in all_tables if t[0][0] == "Feature"} == {("Feature", "Behaviour")}
    rows = {r[0].strip("`"): r for t in tables for r in t[2:]}
    assert all(len(r) == 4 for r in rows.values()), "an escaped pipe broke a row"
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
        "logprobs": CellState.SUPPORTED,
        "tools": CellState.SUPPORTED,
        "top_p": CellState.INCONCLUSIVE,
        "input": CellState.REJECTED,
        "dimensions": CellState.REJECTED,
        "retrieve": CellState.REJECTED,
    }
    behaviour = {p: r[1] for p, r in rows.items()}
    assert behaviour.pop("stream") == "✅ supported · 🔀 fails under concurrent requests"
    assert behaviour == {p: view.state_label(s) for p, s in expected.items()}
    wire = {p: r[2] for p, r in rows.items() if r[2]}  # an unjudged wire (no 2xx answer) has no mark
    assert wire == {
        "temperature": "🟢 strict",
        "list": "🟢 strict",
        "stream": "🟢 strict",
        "top_p": "🟢 strict",
        "logprobs": "📐 spec-violated (2)",
        "tools": "🧨 breaks-sdk",
    }
    assert "a\\|b" in rows["stop"][3] and "<script" not in text
    # Core rows of an endpoint come before its extension profile's rows.
    assert text.index("`temperature`") < text.index("vllm extensions") < text.index("`top_k`")
    assert text.index("vllm extensions") < text.index("## `embeddings`") < text.index("## `models`")
    for fact in ("acme &lt;labs>", "`smol&lt;lm>`", "http://127.0.0.1:9/v1", "2025-01-02", "0.1.0"):
        assert fact in text
    assert "6 pass, 3 fail, 4 unsupported, 1 error, 1 skipped, 1 inconclusive" in text


def _section(text: str, heading: str) -> str:
    """A `## heading` section of the Markdown, up to the next `## ` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_markdown_lists_what_is_behind_the_marks() -> None:
    text = markdown.render([sample_results()])
    legend = [line for line in text.splitlines() if line.startswith("Legend (")]
    assert [line.split(":")[0] for line in legend] == ["Legend (behaviour)", "Legend (wire)"]
    for mark in ("❔ inconclusive", "🔀 fails under concurrent requests"):
        assert mark in legend[0], mark
    for mark in ("🟢 strict", "📐 spec-violated", "🧨 breaks-sdk", "(no mark) unknown"):
        assert mark in legend[1], mark
    wire = _section(text, "Wire violations")
    assert "### `chat.completions` · `logprobs`: ✅ supported · 📐 spec-violated (2)" in wire
    assert "'refusal' is a required property &lt;script>" in wire and "'total_tokens'" in wire
    assert "### `chat.completions` · `tools`: ✅ supported · 🧨 breaks-sdk" in wire and SDK_BROKEN in wire
    assert "`temperature`" not in wire  # strict: nothing to list
    concurrency = _section(text, "Fails under concurrent requests")
    assert f"- chat.stream.chunks: {UNDER_CONCURRENCY}" in concurrency
    assert f"- {NOTE}" in _section(text, "Notes")
    repeat = _md_tables(_section(text, "Repeatability"))[0]
    assert repeat[0] == ["Endpoint", "Served", "Greedy calls", "Distinct answers", "Repeats", "Detail"]
    assert ["chat.completions", "yes", "3", "2", "no", ""] in repeat
    assert ["embeddings", "no: endpoint not served", "0", "–", "not measured", NOT_SERVED] in repeat
    assert ["models (retrieve, errors.unknown_model)", "no: route not served", "0", "–", "not measured", NO_ROUTE] in repeat
    embeddings = _section(text, "`embeddings`")
    assert f"❌ every row (2) rejected: endpoint not served ({NOT_SERVED})" in embeddings
    models = _section(text, "`models`")  # a route probe speaks for its rows only
    assert f"❌ retrieve, errors.unknown_model (1) rejected: route not served ({NO_ROUTE})" in models
    assert "every row" not in models


def test_a_run_without_findings_has_none_of_their_sections() -> None:
    clean = [c for c in sample_cases() if not (c.violations or c.notes or c.under_concurrency)]
    text = markdown.render([sample_results(cases=clean).model_copy(update={"repeatability": []})])
    for heading in ("Wire violations", "Fails under concurrent requests", "Notes", "Repeatability"):
        assert f"## {heading}\n" not in text, heading
    assert "rejected: endpoint not served (" not in text  # without the probe, nothing is known to be unserved


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
    # Every matrix cell links to its deciding case, and a cell's details to each of its cases.
    cells = view.cells_of(run)
    assert len(page.hrefs) == len(cells) + sum(len(c.case_ids) for c in cells if findings.of_cell(c))
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


class _Rows(HTMLParser):
    """Every table row as (tag, class, text) per cell, the text of nested elements included."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str, str]]] = []
        self._open: list[list[str]] = []  # [tag, class, text] of the cells being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._open.append([tag, dict(attrs).get("class") or "", ""])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._open:
            cell_tag, cls, text = self._open.pop()
            self.rows[-1].append((cell_tag, cls, text.strip()))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2] += data


def _rows(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Table rows by the text of their first cell (the last such row wins)."""
    parser = _Rows()
    parser.feed(text)
    return {row[0][2]: row for row in parser.rows if row}


def test_html_grid_shows_both_axes_and_folds_the_findings() -> None:
    text = reports.render("html", [sample_results()])
    page = _parse_html(text)
    matrix = text[text.index('id="matrix"') : text.index('class="repeatability"')]
    rows = _rows(matrix)
    _, behaviour, wire, evidence = rows["logprobs"]
    assert behaviour == ("td", "state s-supported", "✅ supported")
    assert wire == ("td", "wire w-spec-violated", "📐 spec-violated (2)")
    assert evidence[2].startswith("1 case passed: chat.logprobs.top2 violations, 1 note")
    assert VIOLATION in evidence[2] and NOTE in evidence[2] and "&lt;script&gt;" in matrix
    assert rows["tools"][2][1:] == ("wire w-breaks-sdk", "🧨 breaks-sdk") and SDK_BROKEN in rows["tools"][3][2]
    assert rows["stream"][1][2] == "✅ supported🔀 fails under concurrent requests"  # on a line of its own
    assert UNDER_CONCURRENCY in rows["stream"][3][2]
    assert rows["stop"][2] == ("td", "wire w-unknown", "")  # no 2xx answer: nothing judged, no mark
    assert matrix.count('<details class="findings">') == 3  # logprobs, tools, stream; clean cells have none
    assert f"❌ every row (2) rejected: endpoint not served ({NOT_SERVED})" in "".join(page.text)
    assert f"❌ retrieve, errors.unknown_model (1) rejected: route not served ({NO_ROUTE})" in "".join(page.text)

    repeat = _rows(text[text.index('class="repeatability"') :])
    assert [c[2] for c in repeat["chat.completions"]] == ["chat.completions", "yes", "3", "2", "no", ""]
    assert repeat["embeddings"][1][2] == "no: endpoint not served"

    case = text[text.index('id="r0-c9-chat-logprobs-top"') :]
    case = case[: case.index("</details>")]
    assert "<dt>Wire</dt><dd>📐 spec-violated (2)<ul><li>" in case and NOTE in case
    stream = text[text.index('id="r0-c11-chat-stream-chunks"') :]
    assert f"<dt>Under concurrency</dt><dd>🔀 fails under concurrent requests: {UNDER_CONCURRENCY}" in stream


def test_merged_html_cells_carry_both_axes() -> None:
    text = reports.render("html", [sample_results("alpha"), sample_results("beta")])
    _parse_html(text)
    row = _rows(text[text.index('id="matrix"') :])["logprobs"]
    assert [c[0] for c in row] == ["th", "td", "td"]  # one cell per provider
    for _, cls, cell in row[1:]:
        assert cls == "state s-supported"
        assert cell.startswith("✅ supported📐 spec-violated (2)2 violations, 1 note") and VIOLATION in cell


def test_junit_parses_and_counts_match() -> None:
    run = sample_results()
    root = ET.fromstring(reports.render("junit", [run]).encode())
    suites = root.findall("testsuite")
    assert sorted(s.get("name") for s in suites) == ["chat.completions", "embeddings", "models"]
    counts = run.counts()
    assert root.get("tests") == str(len(run.cases))
    assert root.get("failures") == str(counts["fail"] + counts["unsupported"])
    assert root.get("errors") == str(counts["error"])
    assert root.get("skipped") == str(counts["skipped"] + counts["inconclusive"])
    for suite in suites:
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert len(by_name) == len(run.cases)
    for case in run.cases:
        tc = by_name[case.case_id]
        kids = [child for child in tc if child.tag not in ("system-out", "properties")]
        expected = {
            Verdict.PASS: [],
            Verdict.FAIL: ["failure"],
            Verdict.UNSUPPORTED: ["failure"],
            Verdict.ERROR: ["error"],
            Verdict.SKIPPED: ["skipped"],
            Verdict.INCONCLUSIVE: ["skipped"],
        }[case.verdict]
        assert [k.tag for k in kids] == expected, case.case_id
        if kids and case.verdict is not Verdict.INCONCLUSIVE:
            assert kids[0].get("message") == view.one_line(case.reason, 1000)
    assert by_name["chat.logit_bias.ban"][0].get("type") == "unsupported"
    assert by_name["chat.response_format.json_schema"][0].get("type") == "schema"
    assert "\ufffd" in (by_name["chat.stop.substring"][0].text or "")  # the NUL byte, made XML-legal
    assert by_name["chat.top_p.narrow"].find("skipped").get("type") == "inconclusive"  # type: ignore[union-attr]


def test_junit_carries_the_wire_axis_without_failing_the_testcase() -> None:
    root = ET.fromstring(reports.render("junit", [sample_results()]).encode())
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    violated = by_name["chat.logprobs.top"]
    assert violated.find("failure") is None and violated.find("error") is None  # it works: it passes
    props = [(p.get("name"), p.get("value")) for p in violated.iterfind("properties/property")]
    assert props[0] == ("wire", "spec-violated")
    listed = next(c for c in sample_cases() if c.case_id == "chat.logprobs.top").violations
    assert [v for n, v in props if n == "violation"] == listed and listed[0] == VIOLATION
    out = violated.findtext("system-out") or ""
    assert f"violation: {VIOLATION}" in out and f"note: {NOTE}" in out
    broken = by_name["chat.tools.call"]
    assert broken.find("failure") is None and ("wire", "breaks-sdk") in [
        (p.get("name"), p.get("value")) for p in broken.iterfind("properties/property")
    ]
    concurrent = by_name["chat.stream.chunks"]
    assert concurrent.find("failure") is None
    assert f"fails under concurrent requests (passed alone): {UNDER_CONCURRENCY}" in (
        concurrent.findtext("system-out") or ""
    )
    strict = by_name["chat.temperature.greedy"]
    assert strict.find("system-out") is None  # nothing found beside the verdict: nothing printed
    assert [(p.get("name"), p.get("value")) for p in strict.iterfind("properties/property")] == [("wire", "strict")]
    assert by_name["chat.n.three"].find("properties") is None  # no answer: the wire is unknown


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
        "alpha: embeddings",
        "alpha: models",
        "beta: chat.completions",
        "beta: embeddings",
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
    console = Console(record=True, width=300, color_system=None)
    print_summary(console, sample_results(cases=cases), [LEAKED_KEY])
    text = console.export_text()
    assert LEAKED_KEY not in text
    assert "[bold red]markup[/] is data" in text
    for parameter in ("stop", "response_format", "logit_bias", "n", "seed", "min_p (vllm)"):
        assert f" {parameter} " in text, parameter
    assert " temperature " not in text and " top_k " not in text  # supported: not listed
    assert "Core parameters supported: 5/14" in text
    # Not served: one line for the endpoint, none of its rows in the table.
    assert f"embeddings: every row (2) rejected: endpoint not served ({NOT_SERVED})" in text
    assert " dimensions " not in text and " input " not in text and " retrieve " not in text
    assert f"models: retrieve, errors.unknown_model (1) rejected: route not served ({NO_ROUTE})" in text
    assert " list " not in text  # the listing is served (and supported): the route probe does not speak for it
    # Passed alone, failed among concurrent requests: listed, as such and not as broken.
    stream = next(line for line in text.splitlines() if " stream " in line)
    assert "✅ supported · 🔀 fails under concurrent requests" in stream and UNDER_CONCURRENCY in stream
    assert "Wire (cells with a 2xx answer): 4 strict, 1 spec-violated, 1 breaks-sdk" in text
    tools = next(line for line in text.splitlines() if " tools " in line)  # supported, but breaks the SDK
    assert "✅ supported" in tools and "🧨 breaks-sdk" in tools and f"breaks the SDK: {SDK_BROKEN}" in tools
    assert " logprobs " not in text  # a spec violation the SDK accepts is counted, not listed


# A real run of 2026-11-23 in format 1 (one axis; evidence trimmed): it must still load and render.
FORMAT_1_RUN = Path(__file__).resolve().parent / "data" / "format1-llama-cpp-python.json"


def test_a_format_1_run_renders_with_its_wire_unknown() -> None:
    run = load(FORMAT_1_RUN)
    assert run.format_version == 1 and not run.repeatability
    md = markdown.render([run])
    grid = [r for t in _md_tables(md) if t[0] == ["Parameter", "Behaviour", "Wire", "Evidence"] for r in t[2:]]
    assert grid and all(r[2] == "" for r in grid)  # nothing was judged on the wire then: no mark
    assert {r[1] for r in grid} >= {view.state_label(CellState.SUPPORTED)}
    for heading in ("Wire violations", "Fails under concurrent requests", "Notes", "Repeatability"):
        assert f"## {heading}\n" not in md
    _parse_html(reports.render("html", [run]))
    root = ET.fromstring(reports.render("junit", [run]).encode())
    assert "wire" not in {p.get("name") for p in root.iter("property")}


@pytest.mark.parametrize(("state", "failing"), [(CellState.INCONCLUSIVE, False), (CellState.UNTESTED, False),
                                                 (CellState.IGNORED, True)])  # fmt: skip
def test_a_claim_is_only_failing_on_evidence(state: CellState, failing: bool) -> None:
    """A documented "supported" row whose cell is inconclusive is not "claimed but failing" (nor agreeing)."""
    profile = find_profile("ollama")  # a real profile, from its docs
    assert profile is not None
    endpoint, parameter, _ = next(row for row in profile.rows() if row[2].claim is Claim.SUPPORTED)
    case = sample_cases()[0].model_copy(update={"endpoint": endpoint, "parameter": parameter})
    run = sample_results(cases=[case])
    cell = run.cells[0].model_copy(update={"state": state})
    report = claims_report(run.model_copy(update={"cells": [cell], "provider_profile": profile}))
    assert report is not None
    assert bool(report.claimed_but_failing) is failing and report.agreeing == 0


def test_a_real_run_without_an_endpoint_says_so_once(server: RunningServer, tmp_path: Path) -> None:
    """The reference server behind a proxy that answers every /v1/embeddings request with a bare 404."""
    no_route = Mutation(when=lambda c: c.path.startswith("/embeddings"), respond=error(404, {"detail": "Not Found"}))
    with running_proxy(server.base_url, {"no_embeddings": no_route}) as proxy:
        out = tmp_path / "out"
        base_url = proxy.base_url("no_embeddings")
        proc = conformance(
            "run", "--base-url", base_url, "--only", "embeddings.*", "models.list",
            "--out", str(out), env={"COLUMNS": "200"},
        )  # fmt: skip
    results = load(out / "results.json")
    rows = [c for c in results.cells if c.endpoint == "embeddings"]
    assert len(rows) > 3 and all(c.state is CellState.REJECTED and "endpoint not served" in c.summary for c in rows)
    lines = [line for line in proc.stdout.splitlines() if "embeddings" in line.replace(base_url, "")]
    assert lines == [f"embeddings: every row ({len(rows)}) rejected: endpoint not served (POST /embeddings answered HTTP 404)"]
    matrix = (out / "matrix.md").read_text(encoding="utf-8")
    assert f"❌ every row ({len(rows)}) rejected: endpoint not served (POST /embeddings answered HTTP 404)" in matrix
    assert re.search(r"\| embeddings +\| no: endpoint not served +\|", matrix)  # the repeatability table


def test_an_sdk_that_breaks_on_a_passing_answer_is_listed_in_the_sdks_section() -> None:
    """The node SDK throws where the Python one does not: the behaviour passes, the wire says breaks-sdk."""
    first = next(c for c in sample_cases() if c.case_id == "chat.temperature.greedy")
    node = first.model_copy(update={"sdk": "node", "wire": WireState.BREAKS_SDK, "violations": [SDK_BROKEN]})
    run = sample_results(cases=[first]).model_copy(update={"sdk_cases": [node]})
    md = markdown.render([run])
    section = md[md.index("## SDKs") :]
    assert "Every replayed case passed" not in section
    row = next(r for t in _md_tables(section) for r in t if r[0] == "`chat.temperature.greedy`")
    assert row[1:] == ["✅ pass", "✅ pass · 🧨 breaks-sdk", "yes", f"node: {SDK_BROKEN}"]
    assert f"node ✅ pass · 🧨 breaks-sdk: node: {SDK_BROKEN}" in "\n".join(sdks.console_lines(run))
    strict = run.model_copy(update={"sdk_cases": [node.model_copy(update={"wire": WireState.STRICT, "violations": []})]})
    assert "Every replayed case passed through every SDK." in markdown.render([strict])
