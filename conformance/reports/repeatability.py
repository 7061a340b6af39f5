"""The repeatability table: per endpoint, was it served, and did identical greedy requests agree?

It is the context every other verdict of the run is read in: an endpoint not served makes all its
rows "rejected" (a route probe, such as GET /models/{id}, speaks for the rows it names only), and a
server whose greedy answers differ makes the checks comparing two answers inconclusive. Measured by
conformance.probes before any case ran (and updated when a retry showed answers that do not
repeat); runs without it (older files) render nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from conformance.reports import view
from conformance.results import Cell, CellState, Repeatability, RunResults

HEADERS = ["Endpoint", "Served", "Greedy calls", "Distinct answers", "Repeats", "Detail"]
INTRO = "Probed before any case ran: identical greedy requests per endpoint (specs/probes.yaml)."


def _repeats(record: Repeatability) -> str:
    return {True: "yes", False: "no", None: "not measured"}[record.repeats]


def _probed(record: Repeatability) -> str:
    """What a probe speaks for: its endpoint, and the rows of its route when it is not all of them."""
    return f"{record.endpoint} ({', '.join(record.rows)})" if record.rows else record.endpoint


def rows(run: RunResults) -> list[list[str]]:
    """One row per probe, as text in HEADERS order."""
    return [
        [
            _probed(r),
            "yes" if r.served else f"no: {'route' if r.rows else 'endpoint'} not served",
            str(r.calls),
            str(r.distinct) if r.calls else "–",
            _repeats(r),
            r.detail,
        ]
        for r in sorted(run.repeatability, key=lambda r: (r.endpoint, r.rows))
    ]


def unserved(run: RunResults) -> list[tuple[Repeatability, list[Cell]]]:
    """Each probe whose route answered 404/405, with the rejected cells it accounts for."""
    cells = [c for c in view.cells_of(run) if c.state is CellState.REJECTED]
    return [
        (r, [c for c in cells if r.covers(c.endpoint, c.parameter)])
        for r in run.repeatability
        if not r.served
    ]


def unserved_line(record: Repeatability, cells: list[Cell]) -> str:
    """One line for all the rows a missing route rejects: the terminal's and the reports' words."""
    if record.rows:
        return f"{', '.join(record.rows)} ({len(cells)}) rejected: route not served ({record.detail})"
    return f"every row ({len(cells)}) rejected: endpoint not served ({record.detail})"


def unserved_under(runs: Sequence[RunResults], labels: Sequence[str], endpoint: str) -> list[tuple[str, str]]:
    """(who, sentence) for each run that found this endpoint (or a route of it) not served; who is
    the run's label when several runs are merged, else ""."""
    return [
        (label if len(runs) > 1 else "", unserved_line(record, rejected))
        for label, run in zip(labels, runs, strict=True)
        for record, rejected in unserved(run)
        if record.endpoint == endpoint
    ]


def markdown_section(
    run: RunResults, table: Callable[[list[list[str]], list[str]], str], text: Callable[[str], str]
) -> list[str]:
    """`table` renders a GitHub table, `text` escapes a cell: the matrix's own helpers."""
    found = rows(run)
    if not found:
        return []
    body = [[text(row[0]), *(text(v) for v in row[1:])] for row in found]
    return ["## Repeatability", "", INTRO, "", table(body, HEADERS), ""]


def html_section(run: RunResults, label: str = "") -> str:
    found = rows(run)
    if not found:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join(
        f"<tr><th>{escape(row[0])}</th>{''.join(f'<td>{escape(v)}</td>' for v in row[1:])}</tr>"
        for row in found
    )
    title = f"Repeatability: {escape(label)}" if label else "Repeatability"
    return (
        f'<section class="repeatability"><h2>{title}</h2><p>{escape(INTRO)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )
