"""What a cell found beyond its state: wire violations, failures under concurrent requests, notes.

The grid shows one mark per axis so that it reads at a glance; the text behind a mark (which answer
violated which part of the spec, what failed while other requests were in flight, which optional
field was left out) is gathered here once, for matrix.md's sections and report.html's expandable
details, so the two never list different things.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from conformance.reports import view
from conformance.results import Cell, RunResults

WIRE = "Wire violations"
CONCURRENCY = "Fails under concurrent requests"
NOTES = "Notes"
KINDS = (WIRE, CONCURRENCY, NOTES)  # the order of the sections and of a cell's details
_COUNTED = {WIRE: "violation", CONCURRENCY: "concurrency failure", NOTES: "note"}


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    lines: tuple[str, ...]


def of_cell(cell: Cell) -> list[Finding]:
    """The cell's findings, one per kind that it has, in KINDS order; [] for a clean cell."""
    found = {WIRE: cell.violations, CONCURRENCY: cell.under_concurrency, NOTES: cell.notes}
    return [Finding(kind, tuple(found[kind])) for kind in KINDS if found[kind]]


def _rows_with(run: RunResults, kind: str) -> list[tuple[Cell, Finding]]:
    return [
        (cell, finding)
        for cell in sorted(view.cells_of(run), key=view.row_of)
        for finding in of_cell(cell)
        if finding.kind == kind
    ]


def markdown_section(run: RunResults, text: Callable[[str], str]) -> list[str]:
    """One `##` section per kind of finding the run has, a cell per `###`; [] when there are none.

    `text` makes server-supplied text safe for Markdown (the matrix's own escaping).
    """
    out: list[str] = []
    for kind in KINDS:
        rows = _rows_with(run, kind)
        if not rows:
            continue
        out += [f"## {kind}", ""]
        for cell, finding in rows:
            out += [f"### `{text(cell.endpoint)}` · `{text(cell.parameter)}`: {view.cell_label(cell)}", ""]
            out += [f"- {text(line)}" for line in finding.lines]
            out.append("")
    return out


def html_details(cell: Cell, case_link: Callable[[str], str] = escape) -> str:
    """The cell's findings as an expandable <details> for its grid cell; "" for a clean cell.

    `case_link` renders a case id (a link to its evidence in the page); the summary counts what is
    inside so the collapsed grid still says how much there is.
    """
    found = of_cell(cell)
    if not found:
        return ""
    counts = ", ".join(_count(len(f.lines), _COUNTED[f.kind]) for f in found)
    parts = [f'<details class="findings"><summary>{escape(counts)}</summary>']
    for finding in found:
        items = "".join(f"<li>{escape(line)}</li>" for line in finding.lines)
        parts.append(f"<div><b>{escape(finding.kind)}</b></div><ul>{items}</ul>")
    cases = ", ".join(case_link(case_id) for case_id in cell.case_ids)
    parts.append(f'<div class="muted">Cases: {cases}</div></details>')
    return "".join(parts)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"
