"""The end-of-run summary in the terminal: verdict counts, then only the parameters that need attention.

The full evidence lives in the written reports; the terminal answers "did it pass, and if not, what
should I open first". Server text goes in as plain `Text`, never as Rich markup, and is scrubbed.

An endpoint that is not served at all takes one line, not one row per parameter: its rows all say
the same thing. Cells that pass alone but fail among concurrent requests are listed as such, and the
wire axis gets one count line (the reports list the violations).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from conformance.reports import repeatability, view
from conformance.reports.scrub import scrub
from conformance.results import Cell, CellState, RunResults, Verdict, WireState

_VERDICT_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "yellow",
    Verdict.UNSUPPORTED: "red",
    Verdict.ERROR: "bold red",
    Verdict.SKIPPED: "dim",
    Verdict.INCONCLUSIVE: "magenta",
}


def summary(results: RunResults, secrets: Sequence[str | None] = ()) -> RenderableType:
    def t(text: str, style: str = "") -> Text:
        return Text(scrub(text, secrets), style=style)

    info = results.run
    counts = results.counts()
    verdicts = Table(title="Verdicts", title_justify="left", show_header=True)
    for verdict in Verdict:
        verdicts.add_column(verdict.value, justify="right", style=_VERDICT_STYLE[verdict])
    verdicts.add_column("total", justify="right")
    verdicts.add_row(*(str(counts[v.value]) for v in Verdict), str(len(results.cases)))

    cells = view.cells_of(results)
    unserved = repeatability.unserved(results)
    collapsed = [c for _, rejected in unserved for c in rejected]
    attention = [c for c in cells if _needs_attention(c) and c not in collapsed]
    parts: list[RenderableType] = [
        t(f"{info.provider} · model {info.model} · {info.base_url}", "bold"),
        verdicts,
    ]
    for record, rejected in unserved:
        parts.append(t(f"{record.endpoint}: {repeatability.unserved_line(record, rejected)}", "red"))
    if attention:
        table = Table(title="Parameters that need attention", title_justify="left")
        table.add_column("endpoint")
        table.add_column("parameter")
        table.add_column("state", no_wrap=True)
        table.add_column("wire", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        for cell in attention:
            parameter = cell.parameter if cell.profile == view.CORE else f"{cell.parameter} ({cell.profile})"
            table.add_row(
                t(cell.endpoint),
                t(parameter),
                t(view.behaviour_label(cell)),
                t(view.cell_wire_label(cell)),
                t(view.one_line(_evidence(cell), 240)),
            )
        parts.append(table)
    parts.append(
        t(f"Core parameters supported: {view.score(cells)}; all parameters: {_all_supported(cells)}")
    )
    wire = _wire_line(cells)
    if wire:
        parts.append(t(wire))
    return Group(*parts)


def _needs_attention(cell: Cell) -> bool:
    """Not supported, or supported alone only, or answers that break the SDK (a mere spec violation
    is counted on the wire line instead: servers often have many, and the reports list them)."""
    return cell.state is not CellState.SUPPORTED or bool(cell.under_concurrency) or cell.wire is WireState.BREAKS_SDK


def _evidence(cell: Cell) -> str:
    if cell.state is not CellState.SUPPORTED:
        return cell.summary
    if cell.under_concurrency:
        return "passed alone; among concurrent requests: " + "; ".join(cell.under_concurrency)
    return "breaks the SDK: " + "; ".join(cell.violations)


def _wire_line(cells: Sequence[Cell]) -> str:
    """How many judged cells were strict, violated the spec, broke the SDK; "" when none was judged."""
    judged = [c for c in cells if c.wire is not WireState.UNKNOWN]
    if not judged:
        return ""
    ladder = (WireState.STRICT, WireState.SPEC_VIOLATED, WireState.BREAKS_SDK)
    counts = {w: sum(c.wire is w for c in judged) for w in ladder}
    line = "Wire (cells with a 2xx answer): " + ", ".join(f"{n} {w.value}" for w, n in counts.items())
    return line + ("; the violations are in the reports" if len(judged) > counts[WireState.STRICT] else "")


def _all_supported(cells: Sequence[Cell]) -> str:
    return f"{sum(c.state is CellState.SUPPORTED for c in cells)}/{len(cells)}"


def print_summary(console: Console, results: RunResults, secrets: Sequence[str | None] = ()) -> None:
    console.print(summary(results, secrets))
