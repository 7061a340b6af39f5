"""Cell-by-cell comparison of two runs: what got better, what got worse, what appeared or vanished.

A provider gates releases on "nothing that worked before works less now", not on "everything passes":
most servers have known gaps, and a gate that is always red is ignored. So the unit is the matrix
cell, and the question is whether it moved down either of its two ladders below. A move down on
either axis is a regression, even when the other axis moved up: a parameter that now works but
whose answers now break the SDK still breaks the clients that worked yesterday.

Behaviour ladder, best first:

    supported > rejected > untested > accepted but ignored > schema-invalid > broken

Why this order: a 4xx refusal is honest and documented by the error itself; "untested" means every
case was skipped, which is no evidence either way; silently ignoring a parameter misleads clients;
a malformed body breaks SDKs (version 1 files only); a 5xx or timeout breaks the call.

"inconclusive" is off the ladder: the server's greedy answers do not repeat, so a check comparing two
answers can prove neither that the parameter works nor that it does not. A move into or out of it is
reported as "changed", never as a regression (nothing was shown to work less) nor as an improvement
(nothing was shown to work better). A cell that now fails under concurrent requests, and passes
alone, is "changed" too: the baseline may have been run at --concurrency 1, where it cannot show.

Wire ladder, best first: strict > spec-violated > breaks-sdk. "unknown" (no 2xx answer to judge) is
off it: a cell that became rejected has an unknown wire state because of its behaviour, which the
behaviour axis already judges, so a move to or from "unknown" is "changed" at most.

Rows only in the old run are "removed" (a narrower --only, or a deleted case) and rows only in the
new run are "added" (a new case): neither is a regression, because there is nothing to compare.
"""

from __future__ import annotations

from conformance.matrix import derive_cells
from conformance.results import (
    CHANGE_ORDER,
    Cell,
    CellState,
    Change,
    ChangeKind,
    Comparison,
    RunResults,
    WireState,
)

# The comparison is part of results.json (RunResults.baseline), so its models live with the format.
__all__ = ["STATE_LADDER", "WIRE_LADDER", "Change", "ChangeKind", "Comparison", "compare", "rank", "wire_rank"]

STATE_LADDER: list[CellState] = [
    CellState.SUPPORTED,
    CellState.REJECTED,
    CellState.UNTESTED,
    CellState.IGNORED,
    CellState.SCHEMA_INVALID,
    CellState.BROKEN,
]
WIRE_LADDER: list[WireState] = [WireState.STRICT, WireState.SPEC_VIOLATED, WireState.BREAKS_SDK]


def rank(state: CellState) -> int | None:
    """Higher is better; None for a state off the ladder (inconclusive). See the module docstring."""
    return len(STATE_LADDER) - STATE_LADDER.index(state) if state in STATE_LADDER else None


def wire_rank(wire: WireState) -> int | None:
    """Higher is better; None for "unknown", which says nothing about the wire."""
    return len(WIRE_LADDER) - WIRE_LADDER.index(wire) if wire in WIRE_LADDER else None


def _cells(run: RunResults) -> dict[tuple[str, str], Cell]:
    cells = run.cells or derive_cells(run.cases)
    return {(c.endpoint, c.parameter): c for c in cells}


def _direction(old: int | None, new: int | None) -> int:
    """+1 better, -1 worse, 0 same or not comparable (a side off its ladder)."""
    if old is None or new is None or old == new:
        return 0
    return 1 if new > old else -1


def _kind(was: Cell, now: Cell) -> ChangeKind | None:
    """How a row present in both runs moved, on both axes; None when it did not move at all."""
    moves = (
        _direction(rank(was.state), rank(now.state)),
        _direction(wire_rank(was.wire), wire_rank(now.wire)),
    )
    if -1 in moves:
        return ChangeKind.REGRESSION
    if 1 in moves:
        return ChangeKind.IMPROVEMENT
    differs = (was.state, was.wire, bool(was.under_concurrency)) != (
        now.state,
        now.wire,
        bool(now.under_concurrency),
    )
    return ChangeKind.CHANGED if differs else None


def _evidence(was: Cell | None, now: Cell | None) -> str:
    """What to show next to the change: a new wire problem's violations, else the deciding reason."""
    shown = now or was
    assert shown is not None
    wire_worse = (
        was is not None and now is not None and _direction(wire_rank(was.wire), wire_rank(now.wire)) < 0
    )
    if wire_worse and shown.violations:
        return "; ".join(shown.violations)
    if shown.state is CellState.SUPPORTED and shown.under_concurrency:
        return "fails under concurrent requests: " + "; ".join(shown.under_concurrency)
    return shown.summary if shown.state is not CellState.SUPPORTED else ""


def compare(old: RunResults, new: RunResults, baseline_path: str = "") -> Comparison:
    before, after = _cells(old), _cells(new)
    changes: list[Change] = []
    unchanged = 0
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None:
            moved = _kind(was, now)
            if moved is None:
                unchanged += 1
                continue
            kind = moved
        else:
            kind = ChangeKind.ADDED if was is None else ChangeKind.REMOVED
        shown = now or was
        assert shown is not None
        changes.append(
            Change(
                endpoint=key[0],
                parameter=key[1],
                profile=shown.profile,
                kind=kind,
                old=was.state if was else None,
                new=now.state if now else None,
                old_wire=was.wire if was else None,
                new_wire=now.wire if now else None,
                old_concurrent=bool(was and was.under_concurrency),
                new_concurrent=bool(now and now.under_concurrency),
                evidence=_evidence(was, now),
            )
        )
    changes.sort(key=lambda c: (CHANGE_ORDER.index(c.kind), c.endpoint, c.parameter))
    return Comparison(
        baseline_provider=old.run.provider,
        baseline_model=old.run.model,
        baseline_started_at=old.run.started_at.isoformat(timespec="seconds"),
        baseline_path=baseline_path,
        unchanged=unchanged,
        changes=changes,
    )


def state_text(state: CellState | None, wire: WireState | None = None, concurrent: bool = False) -> str:
    """One side of a change: "absent", or the behaviour (failing under concurrent requests, if it did)
    and, when the wire was judged, the wire: "supported, fails under concurrent requests · wire strict"."""
    if state is None:
        return "absent"
    behaviour = f"{state.value}, fails under concurrent requests" if concurrent else state.value
    if wire is None or wire is WireState.UNKNOWN:
        return behaviour
    return f"{behaviour} · wire {wire.value}"
