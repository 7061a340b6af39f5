"""Cell-by-cell comparison of two runs: what got better, what got worse, what appeared or vanished.

A provider gates releases on "nothing that worked before works less now", not on "everything passes":
most servers have known gaps, and a gate that is always red is ignored. So the unit is the matrix
cell, and the question is whether its state moved down the ladder below.

State ladder, best first (a move down is a regression, a move up an improvement):

    supported > rejected > untested = inconclusive > accepted but ignored > schema-invalid > broken

Why this order: a 4xx refusal is honest and documented by the error itself; "untested" means every
case was skipped, which is no evidence either way; silently ignoring a parameter misleads clients;
"inconclusive" is no evidence either way too (answers that do not repeat); a malformed body breaks SDKs; a 5xx or timeout breaks the call.

Rows only in the old run are "removed" (a narrower --only, or a deleted case) and rows only in the
new run are "added" (a new case): neither is a regression, because there is nothing to compare.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from conformance.matrix import derive_cells
from conformance.results import Cell, CellState, RunResults

STATE_LADDER: list[CellState] = [
    CellState.SUPPORTED,
    CellState.REJECTED,
    CellState.UNTESTED,
    CellState.IGNORED,
    CellState.SCHEMA_INVALID,
    CellState.BROKEN,
]
_RANK = {state: len(STATE_LADDER) - i for i, state in enumerate(STATE_LADDER)}
_RANK[CellState.INCONCLUSIVE] = _RANK[CellState.UNTESTED]

# Where a run records the comparison with its baseline, so every report rendered from results.json
# (now or later, merged or not) can list regressions first without the baseline file at hand.
BASELINE_OPTION = "baseline"


def rank(state: CellState) -> int:
    """Higher is better; see the module docstring for the order."""
    return _RANK[state]


class ChangeKind(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    ADDED = "added"
    REMOVED = "removed"


_KIND_ORDER = [ChangeKind.REGRESSION, ChangeKind.IMPROVEMENT, ChangeKind.ADDED, ChangeKind.REMOVED]


class Change(BaseModel):
    endpoint: str
    parameter: str
    profile: str = "core"
    kind: ChangeKind
    old: CellState | None = None
    new: CellState | None = None
    evidence: str = ""  # the new cell's deciding reason (the old one's for a removed row)

    @property
    def row(self) -> str:
        return f"{self.endpoint}/{self.parameter}"


class Comparison(BaseModel):
    """The changes from a baseline run to a new one; regressions first."""

    baseline_provider: str
    baseline_model: str
    baseline_started_at: str
    baseline_path: str = ""
    unchanged: int = 0
    changes: list[Change]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.kind is ChangeKind.REGRESSION]

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind is kind]

    def counts_line(self) -> str:
        parts = []
        for kind in _KIND_ORDER:
            n = len(self.of_kind(kind))
            plural = "s" if n != 1 and kind in (ChangeKind.REGRESSION, ChangeKind.IMPROVEMENT) else ""
            parts.append(f"{n} {kind.value}{plural}")
        return ", ".join([*parts, f"{self.unchanged} unchanged"])


def _cells(run: RunResults) -> dict[tuple[str, str], Cell]:
    cells = run.cells or derive_cells(run.cases)
    return {(c.endpoint, c.parameter): c for c in cells}


def compare(old: RunResults, new: RunResults, baseline_path: str = "") -> Comparison:
    before, after = _cells(old), _cells(new)
    changes: list[Change] = []
    unchanged = 0
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None:
            if rank(now.state) == rank(was.state):
                unchanged += 1
                continue
            kind = ChangeKind.REGRESSION if rank(now.state) < rank(was.state) else ChangeKind.IMPROVEMENT
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
                evidence=shown.summary if shown.state is not CellState.SUPPORTED else "",
            )
        )
    changes.sort(key=lambda c: (_KIND_ORDER.index(c.kind), c.endpoint, c.parameter))
    return Comparison(
        baseline_provider=old.run.provider,
        baseline_model=old.run.model,
        baseline_started_at=old.run.started_at.isoformat(timespec="seconds"),
        baseline_path=baseline_path,
        unchanged=unchanged,
        changes=changes,
    )


def attach(results: RunResults, comparison: Comparison) -> RunResults:
    """The run with its comparison recorded in run.options, for the reports to show first."""
    options: dict[str, Any] = dict(results.run.options)
    options[BASELINE_OPTION] = comparison.model_dump(mode="json")
    return results.model_copy(update={"run": results.run.model_copy(update={"options": options})})


def attached(results: RunResults) -> Comparison | None:
    """The comparison a run recorded, if it was run with --baseline (and the record is readable)."""
    raw = results.run.options.get(BASELINE_OPTION)
    if not isinstance(raw, dict):
        return None
    try:
        return Comparison.model_validate(raw)
    except ValidationError:
        return None


def state_text(state: CellState | None) -> str:
    return state.value if state is not None else "absent"
