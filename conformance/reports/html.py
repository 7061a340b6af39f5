"""report.html: the matrix, then every case with its evidence, in one file that needs nothing else.

It is what a provider attaches to an issue or publishes next to their docs, so it must open from disk
or a CI artifact with no server, network or script: inline CSS only, `<details>` for expanding, and
every piece of server-supplied text escaped (responses are data, never markup). Several runs render
as one table with a column per provider; each cell shows its evidence on hover and links to it.

Each cell reads at a glance on both axes (behaviour, then the wire mark) and folds the text behind
the marks (violations, failures under concurrent requests, notes) into a `<details>` of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from conformance.fuzz import report as fuzz_report
from conformance.matrix import case_state
from conformance.reports import changes, claims, findings, repeatability, sdks, view
from conformance.results import CaseResult, Cell, Exchange, RunResults, Verdict, WireState

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:78rem;
 padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.6rem}h3 code{font-size:1.05rem}h2{margin-top:2.2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem}
th,td{border:1px solid #d6d9e0;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f4f7}tr.profile th{background:#e9ebf5;font-style:italic}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f6f7f9;border:1px solid #e3e5ea;padding:.5rem;overflow:auto;max-height:28rem;
 white-space:pre-wrap;word-break:break-all;margin:.3rem 0}
a{color:inherit}
.state{white-space:nowrap;font-weight:600}
.s-supported{background:#e5f6e8}.s-accepted-but-ignored{background:#fff4d6}.s-rejected{background:#fde4e4}
.s-broken{background:#f9d2d2}.s-schema-invalid{background:#efe2fb}.s-untested,.s-not-run{background:#f1f1f1;color:#666}
.s-inconclusive{background:#eef1fb}.conc{color:#8a4b00;font-weight:600}
.wire{white-space:nowrap;font-weight:400;font-size:12.5px}.w-spec-violated{color:#8a4b00}.w-breaks-sdk{color:#8e1010}
.w-strict{color:#1b7a32}details.findings{font-weight:400;font-size:12.5px;white-space:normal;max-width:34rem}details.findings ul{margin:.2rem 0 .2rem 1rem;padding:0}
.v{display:inline-block;min-width:6.5rem;font-weight:600}
.v-pass{color:#1b7a32}.v-fail{color:#a15c00}.v-unsupported{color:#b42318}.v-error{color:#8e1010}
.v-skipped{color:#666}.v-inconclusive{color:#5a4fb0}
details.case{border:1px solid #e3e5ea;border-radius:4px;margin:.3rem 0;padding:.2rem .6rem}
details.case[open]{background:#fcfcfd}
details.case>summary{cursor:pointer}
details.exchange{margin:.4rem 0 .4rem 1rem}
.reason{color:#555}.muted{color:#777}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}dt{font-weight:600}dd{margin:0}
.ok{color:#1b7a32}.bad{color:#b42318}
details.case:target{outline:3px solid #4062bb}
tfoot td,tfoot th{background:#f3f4f7;font-weight:600}
tr.chg-regression td{background:#f9d2d2;font-weight:600}tr.chg-improvement td{background:#e5f6e8}tr.chg-changed td{background:#fff4d6}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in value).strip("-").lower() or "x"


def _pretty(body: Any) -> str:
    if isinstance(body, str):
        return body
    return json.dumps(body, indent=2, ensure_ascii=False, default=str)


class _Anchors:
    """Stable, unique element ids for each run's cases, whatever characters the case ids hold."""

    def __init__(self, runs: Sequence[RunResults]) -> None:
        self._ids: dict[tuple[int, str], str] = {}
        for r, run in enumerate(runs):
            for c, case in enumerate(run.cases):
                self._ids[(r, case.case_id)] = f"r{r}-c{c}-{_slug(case.case_id)}"

    def case(self, run_index: int, case_id: str) -> str | None:
        return self._ids.get((run_index, case_id))


def _deciding_case(cell: Cell, run: RunResults) -> str:
    """The case that gave the cell its state: where a click on the cell should lead."""
    by_id = {c.case_id: c for c in run.cases}
    for case_id in cell.case_ids:
        case = by_id.get(case_id)
        if case is not None and case_state(case) is cell.state:
            return case_id
    return cell.case_ids[0] if cell.case_ids else ""


def _wire_mark(cell: Cell, tag: str) -> str:
    """The wire axis as its own element (a <td> in the single-run grid, a line of the cell otherwise)."""
    label = view.cell_wire_label(cell)
    if not label and tag != "td":
        return ""
    return f'<{tag} class="wire w-{_slug(cell.wire.value)}">{_e(label)}</{tag}>'


def _findings(cell: Cell, run_index: int, anchors: _Anchors) -> str:
    """The cell's violations, concurrency failures and notes, folded; each case links to its evidence."""

    def link(case_id: str) -> str:
        target = anchors.case(run_index, case_id)
        code = f"<code>{_e(case_id)}</code>"
        return f'<a href="#{target}">{code}</a>' if target else code

    return findings.html_details(cell, link)


def _state_cell(cell: Cell | None, run: RunResults, run_index: int, anchors: _Anchors, single: bool) -> str:
    """The behaviour cell, linked to its deciding case; the wire beside it (single) or under it."""
    if cell is None:
        return '<td class="state s-not-run">not run</td>' + ("<td></td>" if single else "")
    label = _e(view.state_label(cell.state))
    target = anchors.case(run_index, _deciding_case(cell, run))
    inner = f'<a href="#{target}">{label}</a>' if target else label
    if cell.under_concurrency:  # a line of its own, so the column stays narrow
        inner += f'<div class="conc">{_e(view.CONCURRENCY_MARK)}</div>'
    hover = _e(view.one_line(view.evidence_summary(cell), 600))
    extra = "" if single else _wire_mark(cell, "div") + _findings(cell, run_index, anchors)
    behaviour = f'<td class="state s-{_slug(cell.state.value)}" title="{hover}">{inner}{extra}</td>'
    return behaviour + (_wire_mark(cell, "td") if single else "")


def _matrix(matrix: view.Matrix, anchors: _Anchors) -> list[str]:
    runs, labels, indexes, single = matrix.runs, matrix.labels, matrix.indexes, matrix.single
    out = ['<section id="matrix"><h2>Supported parameters</h2>', _legend()]
    if not matrix.rows:
        out.append("<p>No parameters were measured.</p>")
    for endpoint in matrix.endpoints:
        mine = matrix.rows_of(endpoint)
        scores = " · ".join(
            f"{_e(lab) + ': ' if not single else ''}{_e(matrix.score(i, endpoint))}" for i, lab in enumerate(labels)
        )
        out.append(f"<h3><code>{_e(endpoint)}</code></h3><p>Core parameters supported: {scores}</p>")
        out += _unserved(runs, labels, endpoint)
        features = matrix.features[endpoint]
        if features:
            fhead = "<th>Behaviour</th>" if single else "".join(f"<th>{_e(lab)}</th>" for lab in labels)
            fbody = "".join(
                f"<tr><th>{_e(name)}</th>{''.join(f'<td>{_e(s)}</td>' for s in states)}</tr>"
                for name, *states in features
            )
            out.append(
                f'<table class="features"><thead><tr><th>Feature</th>{fhead}</tr></thead>'
                f"<tbody>{fbody}</tbody></table>"
            )
        head = "<th>Evidence</th>" if single else "".join(f"<th>{_e(lab)}</th>" for lab in labels)
        width = 4 if single else 1 + len(runs)
        axes = "<th>Behaviour</th><th>Wire</th>" if single else ""
        out.append(f"<table><thead><tr><th>Parameter</th>{axes}{head}</tr></thead><tbody>")
        profile = view.CORE
        for row in mine:
            if row.profile != profile:
                profile = row.profile
                out.append(f'<tr class="profile"><th colspan="{width}">{_e(profile)} extensions</th></tr>')
            cells = "".join(
                _state_cell(ix.get(row), run, i, anchors, single)
                for i, (ix, run) in enumerate(zip(indexes, runs, strict=True))
            )
            evidence = ""
            if single:
                cell = indexes[0][row]
                evidence = f"<td>{_e(view.evidence_summary(cell))}{_findings(cell, 0, anchors)}</td>"
            out.append(f"<tr><th><code>{_e(row.parameter)}</code></th>{cells}{evidence}</tr>")
        out.append("</tbody>")
        if not single:  # the per-provider score of this endpoint, under its column
            scores_row = "".join(f"<td>{_e(matrix.score(i, endpoint))}</td>" for i in range(len(runs)))
            out.append(f'<tfoot><tr class="score"><th>Core score</th>{scores_row}</tr></tfoot>')
        out.append("</table>")
    out.append("</section>")
    return out


def _scores(matrix: view.Matrix) -> str:
    """Provider by endpoint: the core score of each, and the overall one, in one small table."""
    columns = range(len(matrix.runs))
    head = "".join(f"<th>{_e(lab)}</th>" for lab in matrix.labels)
    body = "".join(
        f"<tr><th><code>{_e(endpoint)}</code></th>"
        + "".join(f"<td>{_e(matrix.score(i, endpoint))}</td>" for i in columns)
        + "</tr>"
        for endpoint in matrix.endpoints
    )
    total = "".join(f"<td>{_e(matrix.score(i))}</td>" for i in columns)
    return (
        '<section id="scores"><h2>Scores</h2><p>Core parameters supported, per endpoint and provider.</p>'
        f'<table class="scores"><thead><tr><th>Endpoint</th>{head}</tr></thead><tbody>{body}</tbody>'
        f'<tfoot><tr><th>All endpoints</th>{total}</tr></tfoot></table></section>'
    )


def _unserved(runs: Sequence[RunResults], labels: list[str], endpoint: str) -> list[str]:
    """Under an endpoint's heading: the runs that found it not served, the one reason for its rows."""
    return [
        f'<p class="bad">{f"{_e(who)}: " if who else ""}❌ {_e(line)}</p>'
        for who, line in repeatability.unserved_under(runs, labels, endpoint)
    ]


def _legend() -> str:
    groups = "".join(
        f"<li>{_e(axis.capitalize())}<ul>"
        + "".join(f"<li><b>{_e(label)}</b> {_e(meaning)}</li>" for label, meaning in items)
        + "</ul></li>"
        for axis, items in view.legend_groups()
    )
    return f'<details class="legend"><summary>Legend</summary><ul>{groups}</ul></details>'


def _runs_table(matrix: view.Matrix) -> str:
    rows = "".join(
        f"<tr><th>{_e(lab)}</th><td><code>{_e(r.run.model)}</code></td><td><code>{_e(r.run.base_url)}</code></td>"
        f"<td>{_e(r.run.started_at.isoformat(timespec='seconds'))}</td><td>{_e(r.run.tool_version)}</td>"
        f"<td>{_e(view.counts_line(r))}</td><td>{_e(matrix.score(i))}</td></tr>"
        for i, (lab, r) in enumerate(zip(matrix.labels, matrix.runs, strict=True))
    )
    return (
        "<table><thead><tr><th>Provider</th><th>Model</th><th>Base URL</th><th>Date</th><th>Tool</th>"
        f"<th>Cases</th><th>Core parameters supported</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


def _exchange(ex: Exchange) -> str:
    status = _e(ex.status) if ex.status is not None else '<span class="bad">no response</span>'
    parts = [
        f'<details class="exchange" open><summary><b>{_e(ex.label or "request")}</b> '
        f'<span class="muted">via {_e(ex.via)}</span> <code>{_e(ex.method)} {_e(ex.url)}</code> → {status} '
        f'<span class="muted">({ex.duration_s:.2f} s)</span></summary>'
    ]
    if ex.error:
        parts.append(f'<p class="bad">Error: {_e(ex.error)}</p>')
    if ex.request_headers:
        parts.append(f"<div>Request headers</div><pre>{_e(_headers(ex.request_headers))}</pre>")
    if ex.request_body is not None:
        parts.append(f"<div>Request body</div><pre>{_e(_pretty(ex.request_body))}</pre>")
    if ex.response_headers:
        parts.append(f"<div>Response headers</div><pre>{_e(_headers(ex.response_headers))}</pre>")
    if ex.response_excerpt:
        parts.append(f"<div>Response (excerpt)</div><pre>{_e(ex.response_excerpt)}</pre>")
    parts.append("</details>")
    return "".join(parts)


def _case(case: CaseResult, anchor: str | None) -> str:
    verdict = case.verdict.value
    reason = f' <span class="reason">— {_e(view.one_line(case.reason, 200))}</span>' if case.reason else ""
    out = [
        f'<details class="case" id="{_e(anchor or "")}"><summary>'
        f'<span class="v v-{verdict}">{_e(view.VERDICT_SYMBOL[case.verdict])} {_e(verdict)}</span> '
        f'<code>{_e(case.case_id)}</code> <span class="muted">{_e(case.parameter)}</span> '
        f"{_e(case.title)}{reason}</summary>",
        "<dl>",
        f"<dt>Endpoint</dt><dd><code>{_e(case.endpoint)}</code></dd>",
        f"<dt>Parameter</dt><dd><code>{_e(case.parameter)}</code> ({_e(case.profile)})</dd>",
        f"<dt>Verdict</dt><dd>{_e(verdict)}"
        + (f" ({_e(case.failure_kind.value)})" if case.failure_kind and case.verdict is Verdict.FAIL else "")
        + "</dd>",
        f"<dt>Duration</dt><dd>{case.duration_s:.2f} s</dd>",
    ]
    if case.reason:
        out.append(f"<dt>Reason</dt><dd>{_e(case.reason)}</dd>")
    out += _case_axes(case)
    out.append("</dl>")
    if case.checks:
        out.append(
            "<table><thead><tr><th></th><th>Expectation</th><th>Kind</th><th>Seen</th></tr></thead><tbody>"
        )
        for check in case.checks:
            mark = '<span class="ok">✓</span>' if check.passed else '<span class="bad">✗</span>'
            out.append(
                f"<tr><td>{mark}</td><td>{_e(check.expectation)}</td><td>{_e(check.kind.value)}</td>"
                f"<td>{_e(check.detail)}</td></tr>"
            )
        out.append("</tbody></table>")
    out += [_exchange(ex) for ex in case.evidence]
    out.append("</details>")
    return "".join(out)


def _case_axes(case: CaseResult) -> list[str]:
    """The case's wire state and what else it found, as <dl> rows; nothing for an unjudged wire."""

    def listed(lines: Sequence[str]) -> str:
        return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"

    out = []
    if case.wire is not WireState.UNKNOWN:
        out.append(f"<dt>Wire</dt><dd>{_e(view.wire_label(case.wire, len(case.violations)))}")
        out.append((listed(case.violations) if case.violations else "") + "</dd>")
    if case.under_concurrency:
        out.append(f"<dt>Under concurrency</dt><dd>{_e(view.CONCURRENCY_MARK)}: {_e(case.under_concurrency)}</dd>")
    if case.notes:
        out.append(f"<dt>Notes</dt><dd>{listed(case.notes)}</dd>")
    if case.attempts > 1:
        out.append(f"<dt>Attempts</dt><dd>{case.attempts}</dd>")
    return out


def _cases(runs: Sequence[RunResults], labels: list[str], anchors: _Anchors) -> list[str]:
    out = ['<section id="cases">']
    for r, (label, run) in enumerate(zip(labels, runs, strict=True)):
        out.append(f"<h2>Cases{': ' + _e(label) if len(runs) > 1 else ''}</h2>")
        out.append(f"<p>{_e(view.counts_line(run))}</p>")
        for endpoint, cases in view.cases_by_endpoint(run).items():
            out.append(f"<h3><code>{_e(endpoint)}</code></h3>")
            out += [_case(case, anchors.case(r, case.case_id)) for case in cases]
    out.append("</section>")
    return out


def render(runs: Sequence[RunResults]) -> str:
    matrix = view.Matrix.of(runs)  # once per render: every table below reads it
    labels = matrix.labels
    anchors = _Anchors(runs)
    title = "OpenAI compatibility: " + " vs ".join(labels)
    baselines = [
        (f"<h3>{_e(lab)}</h3>" if len(runs) > 1 else "") + changes.html_section(cmp)
        for lab, run in zip(labels, runs, strict=True)
        if (cmp := run.baseline) is not None
    ]
    body = [
        f"<h1>{_e(title)}</h1>",
        *baselines,  # regressions before anything else: they decide the gate
        _runs_table(matrix),
        *([_scores(matrix)] if len(runs) > 1 else []),
        *_matrix(matrix, anchors),
        *(
            repeatability.html_section(run, lab if len(runs) > 1 else "")
            for lab, run in zip(labels, runs, strict=True)
        ),
        *(claims.html_section(run, lab) for lab, run in zip(labels, runs, strict=True)),
        *(
            (f"<h3>{_e(lab)}</h3>" if len(runs) > 1 else "")
            + sdks.html_section(run, lambda c, r=r: _case(c, f"r{r}-{c.sdk}-sdk-{_slug(c.case_id)}"))
            for r, (lab, run) in enumerate(zip(labels, runs, strict=True))
            if run.sdk_cases
        ),
        *(
            (f"<h3>{_e(lab)}</h3>" if len(runs) > 1 else "") + fuzz_report.html_section(run.fuzz)
            for lab, run in zip(labels, runs, strict=True)
            if run.fuzz is not None
        ),
        *_cases(runs, labels, anchors),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
