"""The comparison with a baseline, in the terminal, Markdown and HTML: regressions before anything else.

A run made with --baseline carries its comparison in results.json, so matrix.md and report.html put
it at the top; `conformance diff` prints the same table. Regressions are what fail the gate, so they
come first and are never folded away; improvements, changes that are neither (see conformance.compare),
added and removed rows follow. "Was" and "now" show both axes ("supported · wire spec-violated"), so a
regression on the wire reads as one even when the behaviour did not move.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from conformance.compare import Change, ChangeKind, Comparison, state_text
from conformance.reports import view
from conformance.reports.scrub import scrub

_STYLE = {
    ChangeKind.REGRESSION: "bold red",
    ChangeKind.IMPROVEMENT: "green",
    ChangeKind.CHANGED: "yellow",
    ChangeKind.ADDED: "cyan",
    ChangeKind.REMOVED: "dim",
}


def _was(change: Change) -> str:
    return state_text(change.old, change.old_wire, change.old_concurrent)


def _now(change: Change) -> str:
    return state_text(change.new, change.new_wire, change.new_concurrent)


def _heading(comparison: Comparison) -> str:
    where = f" ({comparison.baseline_path})" if comparison.baseline_path else ""
    return (
        f"Compared with baseline {comparison.baseline_provider} · {comparison.baseline_model} · "
        f"{comparison.baseline_started_at}{where}: {comparison.counts_line()}"
    )


def changes_renderable(
    comparison: Comparison, secrets: Sequence[str | None] = (), show_all: bool = True
) -> RenderableType:
    def t(text: str, style: str = "") -> Text:
        return Text(scrub(text, secrets), style=style)

    parts: list[RenderableType] = [t(_heading(comparison), "bold")]
    shown = comparison.changes if show_all else comparison.regressions
    if shown:
        table = Table(
            title="Regressions first" if comparison.regressions else "Changes", title_justify="left"
        )
        for column in ("change", "endpoint", "parameter", "was", "now"):
            table.add_column(column, no_wrap=True)
        table.add_column("evidence", overflow="fold")
        for change in shown:
            table.add_row(
                t(change.kind.value, _STYLE[change.kind]),
                t(change.endpoint),
                t(change.parameter),
                t(_was(change)),
                t(_now(change)),
                t(view.one_line(change.evidence, 200)),
            )
        parts.append(table)
    elif not comparison.changes:
        parts.append(t("No cell changed."))
    return Group(*parts)


def print_changes(
    console: Console, comparison: Comparison, secrets: Sequence[str | None] = (), show_all: bool = True
) -> None:
    console.print(changes_renderable(comparison, secrets, show_all))


def _md(text: str) -> str:
    return view.one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def markdown_section(comparison: Comparison) -> list[str]:
    out = ["## Compared with baseline", "", _md(_heading(comparison)), ""]
    if not comparison.changes:
        return [*out, "No cell changed.", ""]
    out += ["| Change | Endpoint | Parameter | Was | Now | Evidence |", "|---|---|---|---|---|---|"]
    for c in comparison.changes:
        mark = "**regression**" if c.kind is ChangeKind.REGRESSION else c.kind.value
        out.append(
            f"| {mark} | `{_md(c.endpoint)}` | `{_md(c.parameter)}` | {_was(c)} | {_now(c)} | {_md(c.evidence)} |"
        )
    return [*out, ""]


def html_section(comparison: Comparison) -> str:
    e = escape
    rows = "".join(
        f'<tr class="chg-{c.kind.value}"><td>{e(c.kind.value)}</td><td><code>{e(c.endpoint)}</code></td>'
        f"<td><code>{e(c.parameter)}</code></td><td>{e(_was(c))}</td><td>{e(_now(c))}</td>"
        f"<td>{e(view.one_line(c.evidence, 300))}</td></tr>"
        for c in comparison.changes
    )
    table = (
        "<table><thead><tr><th>Change</th><th>Endpoint</th><th>Parameter</th><th>Was</th><th>Now</th>"
        f"<th>Evidence</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p>No cell changed.</p>"
    )
    return f'<section id="baseline"><h2>Compared with baseline</h2><p>{e(_heading(comparison))}</p>{table}</section>'
