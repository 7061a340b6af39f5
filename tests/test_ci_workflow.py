""".github/workflows/conformance.yml, and the same steps performed here: start the reference server,
run against the committed baseline (exit 0), and against a baseline in which a cell was better
(exit 1, the regression listed first). The workflow runs the suite through the repository's own
action (`uses: ./`, action.yml); tests/test_action.py runs that action's steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from test_cli import conformance
from test_cli_run import MIXED_SUITE

from conformance.results import load
from reference_server.launcher import RunningServer

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "conformance.yml"


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps() -> list[dict[str, Any]]:
    jobs = _workflow()["jobs"]
    assert list(jobs) == ["conformance"]
    return jobs["conformance"]["steps"]


def _gate() -> dict[str, Any]:
    return next(s for s in _steps() if s.get("uses") == "./")


def test_workflow_starts_the_server_and_gates_on_the_baseline_through_the_action() -> None:
    steps = _steps()
    runs = [s.get("run", "") for s in steps]
    start = next(i for i, r in enumerate(runs) if "python -m reference_server" in r)
    gate = steps.index(_gate())
    assert start < gate
    inputs = _gate()["with"]
    assert inputs["base-url"] == "${{ env.BASE_URL }}" and inputs["provider"] == "reference-server"
    action_inputs = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))["inputs"]
    assert set(inputs) <= set(action_inputs)
    # the action uploads its reports whatever happened; the workflow adds the server's log
    upload = next(
        i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/upload-artifact")
    )
    assert gate < upload and steps[upload].get("if") == "always()"
    assert steps[upload]["with"]["path"] == "server.log"
    baseline = REPO / inputs["baseline"]
    assert load(baseline).cells, f"the committed baseline {baseline} must be a full results.json"


def test_same_steps_locally_pass_against_the_committed_baseline(server: RunningServer, tmp_path: Path) -> None:
    baseline = REPO / _gate()["with"]["baseline"]
    out = tmp_path / "out"
    # The workflow runs the whole suite; here the cheap models rows stand in for it (rows the run
    # leaves out are "removed", which never fails the gate).
    proc = conformance(
        "run", "--provider", "reference-server", "--base-url", server.base_url, "--baseline", str(baseline),
        "--only", "models/*", "--out", str(out), env={"COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regression(s)" in proc.stdout
    results = load(out / "results.json")
    assert results.baseline is not None and results.baseline.baseline_path == str(baseline)


def _better(results_json: Path, parameter: str, dest: Path) -> Path:
    data = json.loads(results_json.read_text(encoding="utf-8"))
    cells = [c for c in data["cells"] if c["parameter"] == parameter]
    assert cells and cells[0]["state"] != "supported"
    cells[0]["state"] = "supported"
    dest.write_text(json.dumps(data), encoding="utf-8")
    return dest


def test_gate_fails_only_on_a_regression(server: RunningServer, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "own.yaml").write_text(MIXED_SUITE, encoding="utf-8")
    common = ("--base-url", server.base_url, "--cases-dir", str(cases))
    first = conformance("run", *common, "--out", str(tmp_path / "first"))
    assert first.returncode == 1  # a failing and a skipped case: the plain run is red
    baseline = tmp_path / "first" / "results.json"

    same = conformance("run", *common, "--baseline", str(baseline), "--out", str(tmp_path / "same"))
    assert same.returncode == 0, same.stdout + same.stderr  # known failures, nothing got worse

    better = _better(baseline, "retrieve", tmp_path / "better.json")
    worse = conformance(
        "run", *common, "--baseline", str(better), "--out", str(tmp_path / "worse"), env={"COLUMNS": "200"}
    )
    assert worse.returncode == 1, worse.stdout + worse.stderr
    out = worse.stdout
    assert out.index("regression") < out.index("Verdicts")  # listed before the summary
    assert "1 regression(s)" in out and "supported" in out and "accepted but ignored" in out
    matrix = (tmp_path / "worse" / "matrix.md").read_text(encoding="utf-8")
    assert matrix.index("| **regression** | `models` | `retrieve`") < matrix.index("## `models`")
