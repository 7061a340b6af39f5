"""The whole suite against the real reference server on the real bundled model: every case passes."""

from __future__ import annotations

import time

import pytest

from conformance.api import RunConfig, list_cases, run_suite
from conformance.results import CellState, RunResults, Verdict
from reference_server.launcher import RunningServer

CASE_IDS = [case.id for case in list_cases()]


@pytest.fixture(scope="module")
def suite_results(server: RunningServer) -> RunResults:
    started = time.monotonic()
    results = run_suite(RunConfig(base_url=server.base_url, provider="reference", concurrency=4, timeout=120))
    print(f"\nfull suite: {len(results.cases)} cases in {time.monotonic() - started:.1f}s")
    return results


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_passes_on_reference_server(suite_results: RunResults, case_id: str) -> None:
    result = next(c for c in suite_results.cases if c.case_id == case_id)
    assert result.verdict is Verdict.PASS, f"{result.verdict}: {result.reason}\n{result.model_dump_json(indent=1)[:4000]}"


def test_every_cell_is_supported(suite_results: RunResults) -> None:
    assert suite_results.cells, "no cells derived"
    bad = {f"{c.endpoint}/{c.parameter}": c.summary for c in suite_results.cells if c.state is not CellState.SUPPORTED}
    assert not bad


def test_results_never_contain_a_key(keyed_server: RunningServer) -> None:
    key = keyed_server.api_key
    assert key
    results = run_suite(RunConfig(base_url=keyed_server.base_url, api_key=key, only=["models.*"], timeout=60))
    assert {c.verdict for c in results.cases} == {Verdict.PASS}
    dumped = results.model_dump_json()
    assert key not in dumped
    assert "[redacted]" in dumped
