"""The whole suite against the real reference server on the real bundled model: every case passes.

Except where the bundled model cannot do what a case asks: the server then refuses with a 400 that
names the parameter, and the matrix says "rejected", which is the truth. Those refusals are listed
here, each checked to be exactly that clear 400 (anything else fails, and so does a pass, which
would mean the list is stale).
"""

from __future__ import annotations

import json

import pytest
from plugin_run import PluginRun

from conformance.api import RunConfig, list_cases, run_suite
from conformance.results import Cell, CellState, RunResults, Verdict
from reference_server.launcher import RunningServer

CASE_IDS = [case.id for case in list_cases()]
# case id -> the parameter the 400 must name
DOCUMENTED_REJECTIONS = {
    "completions.suffix": "suffix",  # SmolLM2 has no fill-in-the-middle tokens
    "chat.messages.image_url": "messages[0].content[1]",  # nor eyes
}


@pytest.fixture(scope="module")
def suite_results(suite_via_pytest: PluginRun) -> RunResults:
    """The session's one full run (made through the pytest plugin, shared with test_pytest_plugin)."""
    print(f"\nfull suite: {len(suite_via_pytest.results.cases)} cases in {suite_via_pytest.seconds:.1f}s")
    return suite_via_pytest.results


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_passes_on_reference_server(suite_results: RunResults, case_id: str) -> None:
    result = next(c for c in suite_results.cases if c.case_id == case_id)
    if case_id in DOCUMENTED_REJECTIONS:
        assert result.verdict is Verdict.UNSUPPORTED, f"{result.verdict}: {result.reason}"
        refusal = result.evidence[-1]
        assert refusal.status == 400
        assert json.loads(refusal.response_excerpt)["error"]["param"] == DOCUMENTED_REJECTIONS[case_id]
        return
    assert result.verdict is Verdict.PASS, f"{result.verdict}: {result.reason}\n{result.model_dump_json(indent=1)[:4000]}"


def test_every_cell_is_supported(suite_results: RunResults) -> None:
    assert suite_results.cells, "no cells derived"

    def expected(cell: Cell) -> CellState:
        documented = set(cell.case_ids) <= set(DOCUMENTED_REJECTIONS)
        return CellState.REJECTED if documented else CellState.SUPPORTED

    bad = {f"{c.endpoint}/{c.parameter}": c.summary for c in suite_results.cells if c.state is not expected(c)}
    assert not bad


def test_results_never_contain_a_key(keyed_server: RunningServer) -> None:
    key = keyed_server.api_key
    assert key
    results = run_suite(RunConfig(base_url=keyed_server.base_url, api_key=key, only=["models.*"], timeout=60))
    assert {c.verdict for c in results.cases} == {Verdict.PASS}
    dumped = results.model_dump_json()
    assert key not in dumped
    assert "[redacted]" in dumped
