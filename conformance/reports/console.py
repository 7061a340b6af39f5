"""The end-of-run summary in the terminal: verdict counts, then only the parameters that need attention.

The full evidence lives in the written reports; the terminal answers "did it pass, and if not, what
should I open first". Server text goes in as plain `Text`, never as Rich markup, and is scrubbed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from conformance.reports import view
from conformance.reports.scrub import scrub
from conformance.results import Cell, CellState, RunResults, Verdict

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
    attention = [c for c in cells if c.state is not CellState.SUPPORTED]
    parts: list[RenderableType] = [
        t(f"{info.provider} · model {info.model} · {info.base_url}", "bold"),
        verdicts,
    ]
    if attention:
        table = Table(title="Parameters not supported", title_justify="left")
        table.add_column("endpoint")
        table.add_column("parameter")
        table.add_column("state", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        for cell in attention:
            parameter = cell.parameter if cell.profile == view.CORE else f"{cell.parameter} ({cell.profile})"
            table.add_row(
                t(cell.endpoint),
                t(parameter),
                t(view.state_label(cell.state)),
                t(view.one_line(cell.summary, 240)),
            )
        parts.append(table)
    parts.append(
        t(f"Core parameters supported: {view.score(cells)}; all parameters: {_all_supported(cells)}")
    )
    return Group(*parts)


def _all_supported(cells: Sequence[Cell]) -> str:
    return f"{sum(c.state is CellState.SUPPORTED for c in cells)}/{len(cells)}"


def print_summary(console: Console, results: RunResults, secrets: Sequence[str | None] = ()) -> None:
    console.print(summary(results, secrets))
