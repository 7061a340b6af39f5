"""`conformance run --fuzz N`: the robustness section lands in every report and in the exit status.

Runs are narrowed to the /models cases and the models.* endpoints, so each costs seconds; the
fault proxy of test_fuzz_faults breaks error envelopes to show a finding failing the run.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from test_cli import assert_usage_error, conformance, one_line
from test_fuzz_faults import FaultProxy, errors_lose_envelope, serving

from conformance.fuzz.results import EndpointFuzzResult, FuzzFailure, FuzzResults, FuzzVerdict, regressions
from conformance.results import load
from reference_server.launcher import RunningServer

SMALL_RUN = ("--only", "models.*", "--fuzz", "2", "--fuzz-endpoints", "models.list", "--fuzz-seed", "7")


def test_run_with_fuzz_writes_the_robustness_section_everywhere(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = conformance("run", "--base-url", server.base_url, *SMALL_RUN, "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Fuzzing" in proc.stdout and "models.list" in proc.stdout
    assert "fuzzing: " in proc.stderr  # progress as plain lines when stderr is not a terminal
    results = load(out / "results.json")
    assert results.fuzz is not None and results.fuzz.seed == 7 and results.fuzz.ok
    (endpoint,) = results.fuzz.endpoints
    assert endpoint.endpoint == "models.list" and endpoint.requests > 0
    assert "## Robustness (schema fuzzing)" in (out / "matrix.md").read_text()
    assert "<section id='robustness'>" in (out / "report.html").read_text()
    junit = ET.parse(out / "junit.xml").getroot()
    fuzz_suite = junit.find("testsuite[@name='fuzz']")
    assert fuzz_suite is not None and fuzz_suite.get("failures") == "0"
    assert int(junit.get("tests", "0")) == len(results.cases) + 1
    # `conformance report` renders the section again from results.json alone.
    again = conformance("report", str(out / "results.json"), "--format", "md")
    assert "## Robustness (schema fuzzing)" in again.stdout


def test_a_fuzz_finding_fails_the_run_even_when_every_case_passes(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serving(FaultProxy(server.base_url, errors_lose_envelope)) as base_url:
        proc = conformance(
            "run", "--base-url", base_url, "--only", "models.list*", "--fuzz", "3",
            "--fuzz-endpoints", "models.retrieve", "--fuzz-seed", "1", "--out", str(out), timeout=300,
        )  # fmt: skip
    results = load(out / "results.json")
    assert all(case.verdict.value == "pass" for case in results.cases)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "fuzz finding(s) (exit 1)" in proc.stdout
    assert results.fuzz is not None and results.fuzz.endpoints[0].verdict is FuzzVerdict.FAIL
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.find("testsuite[@name='fuzz']/testcase/failure") is not None
    assert int(junit.get("failures", "0")) >= 1


def test_fuzz_flags_without_fuzz_are_refused_not_ignored(server: RunningServer, tmp_path: Path) -> None:
    proc = conformance("run", "--base-url", server.base_url, "--fuzz-seed", "3", "--out", str(tmp_path))
    assert_usage_error(proc, "--fuzz-seed only take effect with --fuzz N")
    one_line(proc)
    assert not (tmp_path / "results.json").exists()


def test_unknown_fuzz_endpoint_is_refused_before_the_suite_runs(server: RunningServer, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--base-url", server.base_url, "--fuzz", "1", "--fuzz-endpoints", "images", "--out", str(tmp_path)
    )
    assert_usage_error(proc, "--fuzz-endpoints: unknown endpoint 'images'", "chat.completions")
    one_line(proc)
    assert not (tmp_path / "results.json").exists()


def _fuzz(**verdicts: FuzzVerdict) -> FuzzResults:
    now = datetime.now(UTC)
    failure = FuzzFailure(endpoint="x", operation="GET /x", mode="negative", check="c", title="t", message="m")
    return FuzzResults(
        base_url="http://127.0.0.1:1/v1",
        model="m",
        seed=1,
        max_examples=1,
        request_timeout_s=1,
        started_at=now,
        finished_at=now,
        endpoints=[
            EndpointFuzzResult(
                endpoint=name.replace("_", "."),
                operation=name,
                verdict=verdict,
                requests=3,
                failures=[failure] if verdict is FuzzVerdict.FAIL else [],
                errors=["unreachable"] if verdict is FuzzVerdict.ERROR else [],
            )
            for name, verdict in verdicts.items()
        ],
    )


def test_baseline_gate_counts_an_endpoint_that_was_clean_and_is_not_anymore() -> None:
    old = _fuzz(models_list=FuzzVerdict.PASS, embeddings=FuzzVerdict.FAIL, completions=FuzzVerdict.PASS)
    new = _fuzz(
        models_list=FuzzVerdict.FAIL, embeddings=FuzzVerdict.FAIL, completions=FuzzVerdict.ERROR,
        responses=FuzzVerdict.FAIL,
    )  # fmt: skip
    found = regressions(old, new)
    assert [line.split(":")[0] for line in found] == ["models.list", "completions"]
    assert "pass -> fail" in found[0] and "unreachable" in found[1]
    assert regressions(None, new) == [] and regressions(old, None) == []


def test_baseline_gate_on_the_cli_fails_on_a_new_fuzz_finding(server: RunningServer, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    proc = conformance("run", "--base-url", server.base_url, *SMALL_RUN, "--out", str(clean), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    old = json.loads((clean / "results.json").read_text())
    old["fuzz"]["endpoints"][0]["endpoint"] = "models.retrieve"  # the next run finds something there
    (clean / "results.json").write_text(json.dumps(old))
    with serving(FaultProxy(server.base_url, errors_lose_envelope)) as base_url:
        proc = conformance(
            "run", "--base-url", base_url, "--only", "models.list*", "--fuzz", "3",
            "--fuzz-endpoints", "models.retrieve", "--fuzz-seed", "1", "--baseline", str(clean / "results.json"),
            "--out", str(tmp_path / "new"), timeout=300,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "regression: models.retrieve: robustness pass -> fail" in proc.stdout
