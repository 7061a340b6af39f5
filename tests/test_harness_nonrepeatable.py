"""A correct server whose greedy answers do not repeat gets every behaviour cell a repeatable one gets.

The reference server with REFERENCE_SERVER_GREEDY_NOISE adds a little Gaussian noise to the logits
before every token: still a correct server (every parameter works, logprobs match what was sampled),
but two identical temperature-0 requests give different answers, as llama-cpp-python's prefix cache,
llama-server's batching and hosted APIs do. Checks that need bit-exact repeats would call its
parameters "ignored"; the suite's checks must not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from plugin_run import PluginRun

from conformance.api import RunConfig, run_suite
from conformance.results import CellState, RunResults
from reference_server.launcher import RunningServer, running_server

NOISE = "0.3"  # diverges after ~10 tokens: 5 of 5 identical 16-token greedy requests differ
# Rows whose evidence is a promise to repeat (a seed repeats its samples; best_of picks among one
# seed's candidates): on a server that does not repeat they are inconclusive, never "ignored".
NEEDS_REPEATS = {("chat.completions", "seed"), ("completions", "seed"), ("completions", "best_of")}


@pytest.fixture(scope="module")
def noisy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("noisy") / "server.log"
    with running_server(log_path=str(log), env={"REFERENCE_SERVER_GREEDY_NOISE": NOISE}) as srv:
        yield srv


@pytest.fixture(scope="module")
def noisy_results(noisy_server: RunningServer) -> RunResults:
    return run_suite(RunConfig(base_url=noisy_server.base_url, concurrency=4, timeout=120))


def test_the_noisy_server_really_does_not_repeat(noisy_results: RunResults) -> None:
    repeats = {r.endpoint: r for r in noisy_results.repeatability}
    for endpoint in ("chat.completions", "completions", "responses"):
        assert repeats[endpoint].repeats is False and repeats[endpoint].distinct >= 2, repeats[endpoint]


def test_the_noisy_server_gets_the_plain_servers_behaviour_cells(
    noisy_results: RunResults, suite_via_pytest: PluginRun
) -> None:
    plain = {(c.endpoint, c.parameter): c.state for c in suite_via_pytest.results.cells}
    noisy = {(c.endpoint, c.parameter): c for c in noisy_results.cells}
    differ = {
        f"{endpoint}/{parameter}": f"{state.value} -> {noisy[endpoint, parameter].state.value}: {noisy[endpoint, parameter].summary}"
        if (endpoint, parameter) in noisy
        else f"{state.value} -> missing"
        for (endpoint, parameter), state in plain.items()
        if (endpoint, parameter) not in NEEDS_REPEATS
        and ((endpoint, parameter) not in noisy or noisy[endpoint, parameter].state is not state)
    }
    assert not differ, "\n".join(f"{k}: {v}" for k, v in sorted(differ.items()))
    inconclusive = {key for key, cell in noisy.items() if cell.state is CellState.INCONCLUSIVE}
    assert inconclusive <= NEEDS_REPEATS, inconclusive - NEEDS_REPEATS
    for key in NEEDS_REPEATS:
        assert noisy[key].state in (CellState.INCONCLUSIVE, plain[key]), (key, noisy[key].state, noisy[key].summary)
