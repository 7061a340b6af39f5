"""matrix.md: the "supported parameters" table per endpoint, as servers' compatibility docs show it.

One run gives parameter | behaviour | wire | evidence; several runs give one column per provider
with both axes in each cell, so the same file answers both "what does my server support" and "how
do these servers compare". The text behind the marks (violations, failures under concurrent
requests, notes) follows the tables, then the repeatability probe the verdicts were read against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tabulate import tabulate

from conformance.fuzz import report as fuzz_report
from conformance.reports import changes, claims, findings, repeatability, sdks, view
from conformance.results import RunResults


def _cell(text: str) -> str:
    """Text safe inside a GitHub table cell: one line, no column breaks, no accidental HTML tags."""
    return view.one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    return "`" + _cell(text).replace("`", "'") + "`"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _legend() -> str:
    return "\n\n".join(
        f"Legend ({axis}): " + " · ".join(f"{label}: {meaning}" for label, meaning in items)
        for axis, items in view.legend_groups()
    )


def _unserved_lines(runs: Sequence[RunResults], labels: Sequence[str], endpoint: str) -> list[str]:
    """Under an endpoint's heading: which runs found it not served, the one reason for all its rows."""
    out: list[str] = []
    for who, line in repeatability.unserved_under(runs, labels, endpoint):
        out += [f"{f'{_cell(who)}: ' if who else ''}❌ {_cell(line)}", ""]
    return out


def _header_single(run: RunResults, matrix: view.Matrix) -> list[str]:
    info = run.run
    facts = [
        ("Provider", _cell(info.provider)),
        ("Model", _code(info.model)),
        ("Base URL", _code(info.base_url)),
        ("Date", info.started_at.isoformat(timespec="seconds")),
        ("Tool", f"openai-conformance {_cell(info.tool_version)}"),
        ("Cases", view.counts_line(run)),
        ("Core parameters supported", str(matrix.score(0))),
    ]
    return [f"# OpenAI compatibility: {_cell(info.provider)}", "", *(f"- **{k}**: {v}" for k, v in facts), ""]


def _endpoint_tables(
    endpoint: str,
    rows: list[view.Row],
    columns: list[list[str]],
    headers: list[str],
    score_line: str,
    features: list[list[str]],
    unserved: list[str],
) -> list[str]:
    """Core rows as one table, then one table per extension profile; `columns` holds a row's cells."""
    out = [f"## `{endpoint}`", "", score_line, "", *unserved]
    if features:
        out += [_table(features, ["Feature", *headers[1 : len(features[0])]]), ""]
    profiles = sorted({r.profile for r in rows}, key=lambda p: (p != view.CORE, p))
    for profile in profiles:
        chosen = [cols for r, cols in zip(rows, columns, strict=True) if r.profile == profile]
        if profile != view.CORE:
            out += [f"### `{endpoint}`: {_cell(profile)} extensions", ""]
        out += [_table(chosen, headers), ""]
    return out


# What follows the matrix tables, in order; each returns [] when the run has nothing for it.
_SECTIONS: list[Callable[[RunResults], list[str]]] = [
    lambda run: findings.markdown_section(run, _cell),
    lambda run: repeatability.markdown_section(run, _table, _cell),
    claims.markdown_section,
    lambda run: sdks.markdown_section(run, _cell),
    lambda run: ["", fuzz_report.markdown_section(run.fuzz)] if run.fuzz is not None else [],
]


def render_single(run: RunResults, matrix: view.Matrix) -> str:
    out = _header_single(run, matrix)
    comparison = run.baseline
    if comparison is not None:  # regressions before anything else: they decide the gate
        out += changes.markdown_section(comparison)
    out += [_legend(), ""]
    index = matrix.indexes[0]
    for endpoint in matrix.endpoints:
        mine = matrix.rows_of(endpoint)
        columns = [
            [
                _code(r.parameter),
                view.behaviour_label(index[r]),
                view.cell_wire_label(index[r]),
                _cell(view.evidence_summary(index[r])),
            ]
            for r in mine
        ]
        score_line = f"Core parameters supported: {matrix.score(0, endpoint)}"
        out += _endpoint_tables(
            endpoint,
            mine,
            columns,
            ["Parameter", "Behaviour", "Wire", "Evidence"],
            score_line,
            matrix.features[endpoint],
            _unserved_lines([run], [run.run.provider], endpoint),
        )
    if not matrix.rows:
        out += ["No parameters were measured.", ""]
    for section in _SECTIONS:
        out += section(run)
    return "\n".join(out).rstrip() + "\n"


def render_merged(runs: Sequence[RunResults], matrix: view.Matrix) -> str:
    labels = matrix.labels
    out = [f"# OpenAI compatibility: {' vs '.join(_cell(lab) for lab in labels)}", ""]
    for label, run in zip(labels, runs, strict=True):
        comparison = run.baseline
        if comparison is not None:
            out += [f"**{_cell(label)}**", "", *changes.markdown_section(comparison)]
    facts = [
        [
            _cell(label),
            _code(r.run.model),
            _code(r.run.base_url),
            r.run.started_at.isoformat(timespec="seconds"),
            _cell(r.run.tool_version),
            view.counts_line(r),
            str(matrix.score(i)),
        ]
        for i, (label, r) in enumerate(zip(labels, runs, strict=True))
    ]
    out += [_table(facts, ["Provider", "Model", "Base URL", "Date", "Tool", "Cases", "Core supported"]), ""]
    out += [_legend(), ""]
    headers = ["Parameter", *(_cell(lab) for lab in labels)]
    for endpoint in matrix.endpoints:
        mine = matrix.rows_of(endpoint)
        columns = [
            [_code(r.parameter), *(view.cell_label(ix[r]) if r in ix else "not run" for ix in matrix.indexes)]
            for r in mine
        ]
        scores = ", ".join(f"{_cell(lab)} {matrix.score(i, endpoint)}" for i, lab in enumerate(labels))
        score_line = f"Core parameters supported: {scores}"
        features = matrix.features[endpoint]
        unserved = _unserved_lines(runs, labels, endpoint)
        out += _endpoint_tables(endpoint, mine, columns, headers, score_line, features, unserved)
    for section in _SECTIONS:  # each section for every run in turn, labelled
        for label, run in zip(labels, runs, strict=True):
            lines = section(run)
            if lines:
                out += [f"**{_cell(label)}**", "", *lines]
    return "\n".join(out).rstrip() + "\n"


def render(runs: Sequence[RunResults]) -> str:
    matrix = view.Matrix.of(runs)  # once per render: every table below reads it
    return render_single(runs[0], matrix) if matrix.single else render_merged(runs, matrix)
