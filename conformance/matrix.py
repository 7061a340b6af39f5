"""Derive the supported-parameter matrix: one cell per (endpoint, parameter) from its cases' verdicts.

Each cell has two axes. Behaviour: what the parameter does (the worst state over the cases that
prove it, plus checks of other cases attributed to it with Expectation.row). Wire: whether the
answers were strict to the spec, violated it in ways the SDK tolerates, or broke the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.results import CaseResult, Cell, CellState, FailureKind, Verdict, WireState

# The worst state wins: a parameter is only "supported" if every case proving it passed.
_SEVERITY = [
    CellState.BROKEN,
    CellState.SCHEMA_INVALID,
    CellState.IGNORED,
    CellState.REJECTED,
    CellState.INCONCLUSIVE,
    CellState.SUPPORTED,
    CellState.UNTESTED,
]
_WIRE_SEVERITY = [WireState.BREAKS_SDK, WireState.SPEC_VIOLATED, WireState.STRICT, WireState.UNKNOWN]


def case_state(case: CaseResult) -> CellState:
    if case.verdict is Verdict.PASS:
        return CellState.SUPPORTED
    if case.verdict is Verdict.UNSUPPORTED:
        return CellState.REJECTED
    if case.verdict is Verdict.ERROR:
        return CellState.BROKEN
    if case.verdict is Verdict.INCONCLUSIVE:
        return CellState.INCONCLUSIVE
    if case.verdict is Verdict.FAIL:
        return CellState.SCHEMA_INVALID if case.failure_kind is FailureKind.SCHEMA else CellState.IGNORED
    return CellState.UNTESTED


def derive_cells(cases: Iterable[CaseResult]) -> list[Cell]:
    members: dict[tuple[str, str], list[CaseResult]] = {}
    # (state, case id, reason) contributions from checks of other rows' cases (Expectation.row)
    borrowed: dict[tuple[str, str], list[tuple[CellState, str, str]]] = {}
    profiles: dict[tuple[str, str], str] = {}
    for case in cases:
        key = (case.endpoint, case.parameter)
        members.setdefault(key, []).append(case)
        profiles.setdefault(key, case.profile)
        for check in case.attributed:
            other = (case.endpoint, check.row)
            reason = f"{check.expectation}: {check.detail}"
            borrowed.setdefault(other, []).append((CellState.IGNORED, case.case_id, reason))
            profiles.setdefault(other, case.profile)
    cells = []
    for key in {**members, **borrowed}:
        endpoint, parameter = key
        own = members.get(key, [])
        votes = [(case_state(c), c.case_id, c.reason) for c in own] + borrowed.get(key, [])
        state, decider, reason = min(votes, key=lambda v: _SEVERITY.index(v[0]))
        wire = min((c.wire for c in own), key=_WIRE_SEVERITY.index, default=WireState.UNKNOWN)
        cells.append(
            Cell(
                endpoint=endpoint,
                parameter=parameter,
                profile=profiles[key],
                state=state,
                case_ids=list(dict.fromkeys([c.case_id for c in own] + [v[1] for v in borrowed.get(key, [])])),
                summary="" if state is CellState.SUPPORTED else f"{decider}: {reason}",
                wire=wire,
                violations=_unique(v for c in own for v in c.violations),
                notes=_unique(n for c in own for n in c.notes),
                under_concurrency=[f"{c.case_id}: {c.under_concurrency}" for c in own if c.under_concurrency],
            )
        )
    return sorted(cells, key=lambda c: (c.endpoint, c.profile != "core", c.parameter))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
