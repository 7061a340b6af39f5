"""A server without a whole endpoint gets "rejected" cells, never "accepted but ignored".

Cases that expect an error (400 for a bad value, 404 for an unknown model) used to read a 404 for
the missing route as a wrong status, i.e. a parameter accepted and ignored. The proxy in front of
the real server answers every /v1/embeddings request the way FastAPI answers an unknown route; the
probe that runs before the cases sees it, and every row says "endpoint not served".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mutating_proxy import Mutation, RunningProxy, error, running_proxy

from conformance.api import RunConfig, run_suite
from conformance.results import CellState, Verdict
from reference_server.launcher import RunningServer

NO_ROUTE = {"detail": "Not Found"}


@pytest.fixture(scope="module")
def proxy(server: RunningServer) -> Iterator[RunningProxy]:
    mutations = {
        "no_embeddings": Mutation(when=lambda c: c.path.startswith("/embeddings"), respond=error(404, NO_ROUTE)),
        "no_embeddings_405": Mutation(when=lambda c: c.path.startswith("/embeddings"), respond=error(405, NO_ROUTE)),
    }
    with running_proxy(server.base_url, mutations) as p:
        yield p


@pytest.mark.parametrize("mutation", ["no_embeddings", "no_embeddings_405"])
def test_a_missing_endpoint_is_rejected_everywhere(proxy: RunningProxy, mutation: str) -> None:
    results = run_suite(RunConfig(base_url=proxy.base_url(mutation), only=["embeddings.*"]))
    assert results.cases
    states = {(c.endpoint, c.parameter): c.state for c in results.cells}
    assert set(states.values()) == {CellState.REJECTED}, states
    # The probe found the route missing before any case ran: every case says so, none was sent.
    for case in results.cases:
        assert case.verdict is Verdict.UNSUPPORTED and case.reason.startswith("endpoint not served"), (case.case_id, case.reason)
        assert not case.evidence
    probe = next(r for r in results.repeatability if r.endpoint == "embeddings")
    assert not probe.served
