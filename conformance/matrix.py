"""Derive the supported-parameter matrix: one cell per (endpoint, parameter) from its cases' verdicts."""

from __future__ import annotations

from collections.abc import Iterable

from conformance.results import CaseResult, Cell, CellState, FailureKind, Verdict

# The worst state wins: a parameter is only "supported" if every case proving it passed.
_SEVERITY = [
    CellState.BROKEN,
    CellState.SCHEMA_INVALID,
    CellState.IGNORED,
    CellState.REJECTED,
    CellState.SUPPORTED,
    CellState.UNTESTED,
]


def case_state(case: CaseResult) -> CellState:
    if case.verdict is Verdict.PASS:
        return CellState.SUPPORTED
    if case.verdict is Verdict.UNSUPPORTED:
        return CellState.REJECTED
    if case.verdict is Verdict.ERROR:
        return CellState.BROKEN
    if case.verdict is Verdict.FAIL:
        return CellState.SCHEMA_INVALID if case.failure_kind is FailureKind.SCHEMA else CellState.IGNORED
    return CellState.UNTESTED


def derive_cells(cases: Iterable[CaseResult]) -> list[Cell]:
    grouped: dict[tuple[str, str], list[CaseResult]] = {}
    for case in cases:
        grouped.setdefault((case.endpoint, case.parameter), []).append(case)
    cells = []
    for (endpoint, parameter), members in grouped.items():
        deciding = min(members, key=lambda c: _SEVERITY.index(case_state(c)))
        state = case_state(deciding)
        cells.append(
            Cell(
                endpoint=endpoint,
                parameter=parameter,
                profile=members[0].profile,
                state=state,
                case_ids=[c.case_id for c in members],
                summary="" if state is CellState.SUPPORTED else f"{deciding.case_id}: {deciding.reason}",
            )
        )
    return sorted(cells, key=lambda c: (c.endpoint, c.profile != "core", c.parameter))
