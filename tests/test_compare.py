"""Cell-by-cell comparison, `conformance diff` and the reports' baseline section, on hand-built runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_cli import assert_usage_error, conformance

from conformance import compare
from conformance.compare import STATE_LADDER, ChangeKind
from conformance.matrix import derive_cells
from conformance.reports import render
from conformance.results import CaseResult, CellState, FailureKind, RunInfo, RunResults, Verdict, save

_VERDICT_FOR = {
    CellState.SUPPORTED: (Verdict.PASS, None),
    CellState.REJECTED: (Verdict.UNSUPPORTED, None),
    CellState.UNTESTED: (Verdict.SKIPPED, None),
    CellState.IGNORED: (Verdict.FAIL, FailureKind.BEHAVIOUR),
    CellState.SCHEMA_INVALID: (Verdict.FAIL, FailureKind.SCHEMA),
    CellState.BROKEN: (Verdict.ERROR, None),
}


def make_run(states: dict[str, CellState], provider: str = "p") -> RunResults:
    """A run with one case per 'endpoint/parameter' row, in the given cell state."""
    cases = []
    for row, state in states.items():
        endpoint, parameter = row.split("/")
        verdict, kind = _VERDICT_FOR[state]
        cases.append(
            CaseResult(
                case_id=f"{endpoint}.{parameter}",
                endpoint=endpoint,
                parameter=parameter,
                verdict=verdict,
                failure_kind=kind,
                reason="" if verdict is Verdict.PASS else f"{parameter} went {state.value}",
            )
        )
    now = datetime(2026, 11, 23, tzinfo=UTC)
    info = RunInfo(
        provider=provider,
        base_url="http://127.0.0.1:1/v1",
        model="m",
        tool_version="t",
        started_at=now,
        finished_at=now,
    )
    return RunResults(run=info, cases=cases, cells=derive_cells(cases))


def test_every_state_made_from_its_verdict() -> None:
    run = make_run({f"e/{s.name.lower()}": s for s in CellState})
    assert {c.parameter: c.state for c in run.cells} == {s.name.lower(): s for s in CellState}


@pytest.mark.parametrize("i", range(len(STATE_LADDER) - 1))
def test_each_step_down_the_ladder_is_a_regression_and_up_an_improvement(i: int) -> None:
    better, worse = STATE_LADDER[i], STATE_LADDER[i + 1]
    down = compare.compare(make_run({"e/x": better}), make_run({"e/x": worse}))
    up = compare.compare(make_run({"e/x": worse}), make_run({"e/x": better}))
    assert [(c.kind, c.old, c.new) for c in down.changes] == [(ChangeKind.REGRESSION, better, worse)]
    assert [(c.kind, c.old, c.new) for c in up.changes] == [(ChangeKind.IMPROVEMENT, worse, better)]
    assert down.regressions and not up.regressions


def test_same_state_added_and_removed_rows_are_not_regressions() -> None:
    old = make_run({"e/same": CellState.IGNORED, "e/gone": CellState.SUPPORTED})
    new = make_run({"e/same": CellState.IGNORED, "e/new": CellState.BROKEN})
    result = compare.compare(old, new)
    assert result.unchanged == 1
    assert {(c.parameter, c.kind) for c in result.changes} == {
        ("new", ChangeKind.ADDED),
        ("gone", ChangeKind.REMOVED),
    }
    assert not result.regressions


def test_regressions_come_first() -> None:
    old = make_run({"a/up": CellState.BROKEN, "z/down": CellState.SUPPORTED, "b/new": CellState.SUPPORTED})
    new = make_run(
        {"a/up": CellState.SUPPORTED, "z/down": CellState.REJECTED, "a/added": CellState.SUPPORTED}
    )
    kinds = [c.kind for c in compare.compare(old, new).changes]
    assert kinds == [ChangeKind.REGRESSION, ChangeKind.IMPROVEMENT, ChangeKind.ADDED, ChangeKind.REMOVED]


def test_reports_put_the_regressions_first(tmp_path: Path) -> None:
    old = make_run({"e/a": CellState.SUPPORTED, "e/b": CellState.BROKEN})
    new = make_run({"e/a": CellState.IGNORED, "e/b": CellState.SUPPORTED})
    run = compare.attach(new, compare.compare(old, new, "old/results.json"))
    save(run, tmp_path / "r.json")  # survives the round trip through results.json
    md = render("md", [run])
    assert md.index("## Compared with baseline") < md.index("Legend")
    assert md.index("| **regression** |") < md.index("| improvement |")
    html = render("html", [run])
    assert html.index('id="baseline"') < html.index('id="matrix"')
    assert 'class="chg-regression"' in html
    assert compare.attached(make_run({})) is None


def _write(tmp_path: Path, name: str, run: RunResults) -> Path:
    path = tmp_path / name / "results.json"
    save(run, path)
    return path


def test_diff_command_exit_codes(tmp_path: Path) -> None:
    old = _write(tmp_path, "old", make_run({"e/a": CellState.SUPPORTED, "e/b": CellState.REJECTED}))
    same = _write(tmp_path, "same", make_run({"e/a": CellState.SUPPORTED, "e/b": CellState.SUPPORTED}))
    worse = _write(tmp_path, "worse", make_run({"e/a": CellState.BROKEN, "e/b": CellState.REJECTED}))

    proc = conformance("diff", str(old), str(same), env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stderr
    assert "improvement" in proc.stdout and "1 improvement," in proc.stdout and "0 regressions" in proc.stdout

    proc = conformance("diff", str(old), str(worse))
    assert proc.returncode == 1, proc.stderr
    assert "regression" in proc.stdout and "a went broken" in proc.stdout

    assert_usage_error(conformance("diff", str(old), str(tmp_path / "missing.json")), "no such file")
