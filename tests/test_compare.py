"""Cell-by-cell comparison, `conformance diff` and the reports' baseline section, on hand-built runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_cli import assert_usage_error, conformance

from conformance import compare
from conformance.compare import STATE_LADDER, WIRE_LADDER, ChangeKind
from conformance.matrix import derive_cells
from conformance.reports import render
from conformance.results import (
    CaseResult,
    CellState,
    FailureKind,
    RunInfo,
    RunResults,
    Verdict,
    WireState,
    load,
    save,
)
from reference_server.launcher import RunningServer

_VERDICT_FOR = {
    CellState.SUPPORTED: (Verdict.PASS, None),
    CellState.REJECTED: (Verdict.UNSUPPORTED, None),
    CellState.UNTESTED: (Verdict.SKIPPED, None),
    CellState.IGNORED: (Verdict.FAIL, FailureKind.BEHAVIOUR),
    CellState.SCHEMA_INVALID: (Verdict.FAIL, FailureKind.SCHEMA),
    CellState.BROKEN: (Verdict.ERROR, None),
    CellState.INCONCLUSIVE: (Verdict.INCONCLUSIVE, None),
}
# The wire state a case in that state has when the test does not say: judged answers for a 2xx.
_DEFAULT_WIRE = {CellState.SUPPORTED: WireState.STRICT, CellState.IGNORED: WireState.STRICT}

Row = CellState | tuple[CellState, WireState]


def make_run(
    states: dict[str, Row], provider: str = "p", concurrency: dict[str, str] | None = None
) -> RunResults:
    """A run with one case per 'endpoint/parameter' row, in the given cell state (and wire state).

    A wire state other than strict comes with one violation naming the row; `concurrency` maps a row
    to what failed when it ran among concurrent requests (it passed alone).
    """
    cases = []
    for row, given in states.items():
        endpoint, parameter = row.split("/")
        state, wire = (
            given if isinstance(given, tuple) else (given, _DEFAULT_WIRE.get(given, WireState.UNKNOWN))
        )
        verdict, kind = _VERDICT_FOR[state]
        violated = wire in (WireState.SPEC_VIOLATED, WireState.BREAKS_SDK)
        cases.append(
            CaseResult(
                case_id=f"{endpoint}.{parameter}",
                endpoint=endpoint,
                parameter=parameter,
                verdict=verdict,
                failure_kind=kind,
                reason="" if verdict is Verdict.PASS else f"{parameter} went {state.value}",
                wire=wire,
                violations=[f"probe: body validates: {parameter} is {wire.value}"] if violated else [],
                under_concurrency=(concurrency or {}).get(row, ""),
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


@pytest.mark.parametrize("i", range(len(WIRE_LADDER) - 1))
def test_each_step_down_the_wire_ladder_is_a_regression_with_the_same_behaviour(i: int) -> None:
    better, worse = WIRE_LADDER[i], WIRE_LADDER[i + 1]
    old, new = (
        make_run({"e/x": (CellState.SUPPORTED, better)}),
        make_run({"e/x": (CellState.SUPPORTED, worse)}),
    )
    down, up = compare.compare(old, new), compare.compare(new, old)
    assert [(c.kind, c.old_wire, c.new_wire) for c in down.changes] == [
        (ChangeKind.REGRESSION, better, worse)
    ]
    assert [(c.kind, c.old_wire, c.new_wire) for c in up.changes] == [(ChangeKind.IMPROVEMENT, worse, better)]
    assert down.changes[0].evidence == f"probe: body validates: x is {worse.value}"  # the violations say why


def test_a_wire_regression_counts_even_when_the_behaviour_improved() -> None:
    old = make_run({"e/x": (CellState.IGNORED, WireState.STRICT)})
    new = make_run({"e/x": (CellState.SUPPORTED, WireState.BREAKS_SDK)})
    assert [c.kind for c in compare.compare(old, new).changes] == [ChangeKind.REGRESSION]


def test_unknown_wire_is_judged_by_the_behaviour_axis_alone() -> None:
    """Rejected has no 2xx answer to judge: strict -> unknown is the behaviour's regression, not a wire one."""
    old = make_run({"e/x": (CellState.SUPPORTED, WireState.SPEC_VIOLATED)})
    rejected = make_run({"e/x": CellState.REJECTED})
    assert [c.kind for c in compare.compare(old, rejected).changes] == [ChangeKind.REGRESSION]
    assert [c.kind for c in compare.compare(rejected, old).changes] == [ChangeKind.IMPROVEMENT]
    same = make_run({"e/x": (CellState.SUPPORTED, WireState.UNKNOWN)})
    assert [c.kind for c in compare.compare(old, same).changes] == [ChangeKind.CHANGED]


@pytest.mark.parametrize("other", [s for s in CellState if s is not CellState.INCONCLUSIVE])
def test_inconclusive_is_a_change_never_a_regression_nor_an_improvement(other: CellState) -> None:
    """No evidence either way: a supported cell going inconclusive was not shown to work less."""
    inconclusive = make_run({"e/x": CellState.INCONCLUSIVE})
    for old, new in ((make_run({"e/x": other}), inconclusive), (inconclusive, make_run({"e/x": other}))):
        result = compare.compare(old, new)
        assert [c.kind for c in result.changes] == [ChangeKind.CHANGED]
        assert not result.regressions
    assert "1 changed" in result.counts_line()


def test_failing_under_concurrency_is_shown_as_a_change() -> None:
    old = make_run({"e/x": CellState.SUPPORTED})
    new = make_run({"e/x": CellState.SUPPORTED}, concurrency={"e/x": "error: HTTP 503"})
    (change,) = compare.compare(old, new).changes
    assert change.kind is ChangeKind.CHANGED and (change.old_concurrent, change.new_concurrent) == (False, True)
    assert change.evidence == "fails under concurrent requests: e.x: error: HTTP 503"
    md = render("md", [new.model_copy(update={"baseline": compare.compare(old, new)})])
    assert "| supported · wire strict | supported, fails under concurrent requests · wire strict |" in md


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
    run = new.model_copy(update={"baseline": compare.compare(old, new, "old/results.json")})
    save(run, tmp_path / "r.json")  # survives the round trip through results.json
    md = render("md", [run])
    assert md.index("## Compared with baseline") < md.index("Legend")
    assert md.index("| **regression** |") < md.index("| improvement |")
    html = render("html", [run])
    assert html.index('id="baseline"') < html.index('id="matrix"')
    assert 'class="chg-regression"' in html
    assert load(tmp_path / "r.json").baseline == run.baseline
    assert make_run({}).baseline is None


def test_files_that_kept_the_comparison_in_run_options_still_load_it(tmp_path: Path) -> None:
    """Before the typed part, run.options["baseline"] held the comparison; such files read the same."""
    old, new = make_run({"e/a": CellState.SUPPORTED}), make_run({"e/a": CellState.IGNORED})
    comparison = compare.compare(old, new, "old/results.json")
    data = json.loads(new.model_dump_json())
    data["run"]["options"] = {"concurrency": 4, "baseline": comparison.model_dump(mode="json")}
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load(path)
    assert loaded.baseline == comparison and loaded.run.options == {"concurrency": 4}
    data["run"]["options"] = {"baseline": {"not": "a comparison"}}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load(path).baseline is None


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


def test_diff_gates_on_the_wire_axis_too(tmp_path: Path) -> None:
    """Same behaviour everywhere: only the wire moves. Worse wire exits 1, better wire exits 0."""
    strict = make_run({"e/a": CellState.SUPPORTED, "e/b": (CellState.SUPPORTED, WireState.SPEC_VIOLATED)})
    worse = make_run({"e/a": (CellState.SUPPORTED, WireState.SPEC_VIOLATED), "e/b": CellState.SUPPORTED})
    old, new = _write(tmp_path, "old", strict), _write(tmp_path, "new", worse)
    proc = conformance("diff", str(old), str(new), env={"COLUMNS": "400"})
    assert proc.returncode == 1, proc.stderr
    assert "1 regression, 1 improvement," in proc.stdout
    assert "supported · wire strict" in proc.stdout and "supported · wire spec-violated" in proc.stdout
    assert "a is spec-violated" in proc.stdout  # the violation is the evidence

    same = _write(tmp_path, "same", strict)
    proc = conformance("diff", str(old), str(same), env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regressions" in proc.stdout


def test_diff_reads_a_format_1_baseline(tmp_path: Path) -> None:
    """Old files have no wire axis: comparing against one judges the behaviour alone."""
    old = make_run({"e/a": CellState.SUPPORTED}).model_dump(mode="json")
    old["format_version"] = 1
    for key in ("repeatability", "sdk_cases"):
        old.pop(key)
    for item in (*old["cases"], *old["cells"]):
        for key in ("wire", "violations", "notes", "under_concurrency"):
            item.pop(key, None)
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    new = _write(tmp_path, "new", make_run({"e/a": (CellState.SUPPORTED, WireState.BREAKS_SDK)}))
    proc = conformance("diff", str(path), str(new), env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 changed" in proc.stdout


# A real run's wire violation: listing models is answered fine (behaviour passes), but the answer is
# checked against the wrong schema on purpose, so the wire axis of `as_model` says spec-violated.
WIRE_SUITE = """
endpoint: models
cases:
  - id: own.list
    parameter: list
    steps:
      - sdk: models.list
        expect:
          - status: 200
  - id: own.list_as_a_model
    parameter: as_model
    steps:
      - sdk: models.list
        expect:
          - status: 200
          - schema: Model
"""


def test_run_baseline_gate_fails_on_a_wire_regression(server: RunningServer, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "own.yaml").write_text(WIRE_SUITE, encoding="utf-8")
    common = ("run", "--base-url", server.base_url, "--cases-dir", str(cases))
    conformance(*common, "--out", str(tmp_path / "first"))
    baseline = tmp_path / "first" / "results.json"
    cells = {c.parameter: c for c in load(baseline).cells}
    assert (cells["as_model"].state, cells["as_model"].wire) == (CellState.SUPPORTED, WireState.SPEC_VIOLATED)
    assert cells["list"].wire is WireState.STRICT

    same = conformance(*common, "--baseline", str(baseline), "--out", str(tmp_path / "same"))
    assert same.returncode == 0, same.stdout + same.stderr  # a known violation is no regression
    assert "0 regression(s)" in same.stdout

    data = json.loads(baseline.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if cell["parameter"] == "as_model":
            cell["wire"], cell["violations"] = "strict", []
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(data), encoding="utf-8")
    worse = conformance(
        *common, "--baseline", str(strict), "--out", str(tmp_path / "worse"), env={"COLUMNS": "300"}
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "1 regression(s)" in worse.stdout
    assert "supported · wire strict" in worse.stdout and "supported · wire spec-violated" in worse.stdout
    matrix = (tmp_path / "worse" / "matrix.md").read_text(encoding="utf-8")
    assert "| **regression** | `models` | `as_model` | supported · wire strict | supported · wire spec-violated |" in matrix
