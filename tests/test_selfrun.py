"""The main job's verdict: only refusals its provider profile documents are forgiven, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conformance.results import CaseResult, RunInfo, RunResults, Verdict
from conformance.selfrun import undocumented_shortfalls


def _results(*cases: tuple[str, str, Verdict]) -> RunResults:
    now = datetime.now(UTC)
    info = RunInfo(provider="reference-server", base_url="http://127.0.0.1:1/v1", model="m",
                   tool_version="0", started_at=now, finished_at=now)  # fmt: skip
    return RunResults(
        run=info,
        cases=[CaseResult(case_id=f"{e}.{p}", endpoint=e, parameter=p, verdict=v) for e, p, v in cases],
    )


@pytest.mark.parametrize(
    ("case", "forgiven"),
    [
        (("completions", "suffix", Verdict.UNSUPPORTED), True),  # documented as unsupported
        (("completions", "suffix", Verdict.FAIL), False),  # accepted but wrong: a defect
        (("completions", "suffix", Verdict.ERROR), False),
        (("chat.completions", "stop", Verdict.UNSUPPORTED), False),  # documented as supported
        (("chat.completions", "stop", Verdict.SKIPPED), False),
        (("chat.completions", "no-such-row", Verdict.UNSUPPORTED), False),  # not documented at all
        (("chat.completions", "stop", Verdict.PASS), True),
    ],
)
def test_only_documented_refusals_are_forgiven(case: tuple[str, str, Verdict], forgiven: bool) -> None:
    assert (undocumented_shortfalls(_results(case)) == []) is forgiven


def test_node_sdk_replays_count_too() -> None:
    results = _results(("chat.completions", "stop", Verdict.PASS))
    node = [
        CaseResult(case_id="chat.completions.stop", endpoint="chat.completions", parameter="stop", verdict=v, sdk="node")
        for v in (Verdict.ERROR,)
    ]
    results.sdk_cases = node
    assert [c.sdk for c in undocumented_shortfalls(results)] == ["node"]
    results.sdk_cases = [node[0].model_copy(update={"parameter": "suffix", "endpoint": "completions", "verdict": Verdict.UNSUPPORTED})]
    assert undocumented_shortfalls(results) == []
