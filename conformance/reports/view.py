"""What every report format shows, decided once: symbols, row order, column labels, scores.

Formats differ only in markup. Keeping the presentation decisions here means the Markdown table, the
HTML page and the console summary never disagree about what a state is called or in which order rows
come, and merging several runs (one column per provider) is the same code path as showing one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.matrix import derive_cells
from conformance.results import CaseResult, Cell, CellState, RunResults, Verdict, WireState

STATE_SYMBOL: dict[CellState, str] = {
    CellState.SUPPORTED: "✅",
    CellState.IGNORED: "⚠️",
    CellState.REJECTED: "❌",
    CellState.BROKEN: "💥",
    CellState.SCHEMA_INVALID: "🧩",
    CellState.INCONCLUSIVE: "❔",
    CellState.UNTESTED: "–",
}

STATE_MEANING: dict[CellState, str] = {
    CellState.SUPPORTED: "every case proving it passed",
    CellState.IGNORED: "answered 200, but the parameter had no (or the wrong) effect",
    CellState.REJECTED: "the server refused it with a 4xx",
    CellState.BROKEN: "5xx, timeout, dropped connection or unparsable body",
    CellState.SCHEMA_INVALID: "the response or a streamed chunk does not match OpenAI's schema (format 1 files)",
    CellState.INCONCLUSIVE: "the evidence needs answers that repeat, and this server's greedy answers do not",
    CellState.UNTESTED: "every case was skipped: no evidence either way",
}

# The second axis. "unknown" has no mark: a refused or broken cell has no answer to judge, and its
# behaviour symbol already says so; every judged cell carries one of the other three.
WIRE_SYMBOL: dict[WireState, str] = {
    WireState.STRICT: "🟢",
    WireState.SPEC_VIOLATED: "📐",
    WireState.BREAKS_SDK: "🧨",
    WireState.UNKNOWN: "",
}

WIRE_MEANING: dict[WireState, str] = {
    WireState.STRICT: "every answer validated against OpenAI's schema and the SDK's types",
    WireState.SPEC_VIOLATED: "the SDK accepts the answers, but they violate the spec (the violations are listed)",
    WireState.BREAKS_SDK: "the official SDK throws on an answer",
    WireState.UNKNOWN: "no 2xx answer to judge (refused, broken or not run)",
}

# A case that failed among concurrent requests and passed alone: its cell keeps the state alone.
CONCURRENCY_MARK = "🔀 fails under concurrent requests"
CONCURRENCY_MEANING = "passed when run alone, but failed while other requests were in flight"

VERDICT_SYMBOL: dict[Verdict, str] = {
    Verdict.PASS: "✅",
    Verdict.FAIL: "✗",
    Verdict.UNSUPPORTED: "❌",
    Verdict.ERROR: "💥",
    Verdict.SKIPPED: "–",
    Verdict.INCONCLUSIVE: "❔",
}

CORE = "core"


def state_label(state: CellState) -> str:
    return f"{STATE_SYMBOL[state]} {state.value}"


def wire_label(wire: WireState, violations: int = 0) -> str:
    """The wire axis in words, with the number of violations; "" for unknown (nothing judged)."""
    if wire is WireState.UNKNOWN:
        return ""
    count = f" ({violations})" if wire is WireState.SPEC_VIOLATED and violations else ""
    return f"{WIRE_SYMBOL[wire]} {wire.value}{count}"


def behaviour_label(cell: Cell) -> str:
    """The behaviour axis of a cell: its state, and whether it fails under concurrent requests."""
    label = state_label(cell.state)
    return f"{label} · {CONCURRENCY_MARK}" if cell.under_concurrency else label


def cell_wire_label(cell: Cell) -> str:
    return wire_label(cell.wire, len(cell.violations))


def cell_label(cell: Cell) -> str:
    """Both axes in one line, for a grid with one column per run: "✅ supported · 📐 spec-violated (2)"."""
    return " · ".join(part for part in (behaviour_label(cell), cell_wire_label(cell)) if part)


def legend_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """(axis, [(label, meaning)]) for every mark a cell can carry, behaviour first, then the wire."""
    behaviour = [(state_label(s), STATE_MEANING[s]) for s in CellState]
    behaviour.append((CONCURRENCY_MARK, CONCURRENCY_MEANING))
    wire = [
        (f"{WIRE_SYMBOL[w]} {w.value}" if WIRE_SYMBOL[w] else f"(no mark) {w.value}", WIRE_MEANING[w])
        for w in WireState
    ]
    return [("behaviour", behaviour), ("wire", wire)]


def cells_of(run: RunResults) -> list[Cell]:
    """The run's matrix; derived from its cases when the file carries none (hand-built or older)."""
    return list(run.cells) if run.cells else derive_cells(run.cases)


@dataclass(frozen=True, order=True)
class Row:
    endpoint: str
    is_extension: bool  # core rows first, then extension profiles
    profile: str
    is_error_row: bool  # parameters first, then the `errors.*` behaviour rows
    parameter: str


def row_of(cell: Cell) -> Row:
    return Row(
        cell.endpoint,
        cell.profile != CORE,
        cell.profile,
        cell.parameter.startswith("errors."),
        cell.parameter,
    )


def endpoints(rows: Sequence[Row]) -> list[str]:
    return sorted({r.endpoint for r in rows})


def column_labels(runs: Sequence[RunResults]) -> list[str]:
    """One distinct label per run: the provider, disambiguated by model and then by position."""
    labels = [run.run.provider for run in runs]
    counts = Counter(labels)
    labels = [
        f"{lab} ({run.run.model})" if counts[lab] > 1 else lab for lab, run in zip(labels, runs, strict=True)
    ]
    counts = Counter(labels)
    return [f"{lab} #{i + 1}" if counts[lab] > 1 else lab for i, lab in enumerate(labels)]


@dataclass(frozen=True)
class Score:
    supported: int
    total: int

    def __str__(self) -> str:
        if not self.total:
            return "–"
        return f"{self.supported}/{self.total} ({round(100 * self.supported / self.total)}%)"


def score(cells: Sequence[Cell], endpoint: str | None = None, profile: str = CORE) -> Score:
    """Supported cells out of all measured cells of a profile: untested ones count as not shown to work."""
    chosen = [c for c in cells if c.profile == profile and (endpoint is None or c.endpoint == endpoint)]
    return Score(sum(c.state is CellState.SUPPORTED for c in chosen), len(chosen))


def evidence_summary(cell: Cell) -> str:
    if cell.state is CellState.SUPPORTED:
        n = len(cell.case_ids)
        return f"{n} case{'s' if n != 1 else ''} passed: {', '.join(cell.case_ids)}"
    return cell.summary or ", ".join(cell.case_ids)


def counts_line(run: RunResults) -> str:
    counts = run.counts()
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n) or "no cases"


def cases_by_endpoint(run: RunResults) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = {}
    for case in sorted(
        run.cases,
        key=lambda c: (
            c.endpoint,
            c.profile != CORE,
            c.profile,
            c.parameter.startswith("errors."),
            c.parameter,
            c.case_id,
        ),
    ):
        grouped.setdefault(case.endpoint, []).append(case)
    return grouped


def one_line(text: str, limit: int = 300) -> str:
    """Reasons and details squeezed into a table cell: no newlines, bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Matrix:
    """The matrix of one render, built once: each run's cells and their index, the merged rows, the
    column labels and each endpoint's feature table (specs/features.yaml read once). The formats read
    it rather than deriving cells, rows and features again for every endpoint and every table."""

    runs: Sequence[RunResults]
    labels: list[str]
    cells: list[list[Cell]]  # per run
    indexes: list[dict[Row, Cell]]  # per run
    rows: list[Row]  # every row any run measured, in report order
    features: dict[str, list[list[str]]]  # endpoint -> rows of [feature, state per run]

    @classmethod
    def of(cls, runs: Sequence[RunResults]) -> Matrix:
        from conformance import features  # local: the feature list is data, read only when rendering

        cells = [cells_of(run) for run in runs]
        rows = sorted({row_of(cell) for mine in cells for cell in mine})
        known = features.load_features()
        tables = {}
        for endpoint in endpoints(rows):
            per_run = [features.summarise(known, mine, endpoint) for mine in cells]
            tables[endpoint] = (
                [[statuses[0].feature.name, *(s.label for s in statuses)] for statuses in zip(*per_run, strict=True)]
                if per_run and per_run[0]
                else []
            )
        return cls(
            runs=runs,
            labels=column_labels(runs),
            cells=cells,
            indexes=[{row_of(cell): cell for cell in mine} for mine in cells],
            rows=rows,
            features=tables,
        )

    @property
    def single(self) -> bool:
        return len(self.runs) == 1

    @property
    def endpoints(self) -> list[str]:
        return endpoints(self.rows)

    def rows_of(self, endpoint: str) -> list[Row]:
        return [row for row in self.rows if row.endpoint == endpoint]

    def score(self, run: int, endpoint: str | None = None) -> Score:
        """Run number `run`'s core score, of one endpoint or of all."""
        return score(self.cells[run], endpoint)
