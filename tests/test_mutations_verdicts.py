"""The verdict paths for real servers can fail: each one, shown on a mutation that needs it and one that must not get it.

A non-repeatable server gets "inconclusive" for a check that compares two answers, but a repeatable
one that ignores the parameter still gets "accepted but ignored". A stream cut only while other
requests are in flight passes alone and says so (`under_concurrency`), but a stream that is always
cut is still a failure. A route that answers 404 makes its endpoint "not served" without sending its
cases, but a 404 naming the model does not. A connection dropped once is retried and passes, but
one dropped every time is still broken. A check about `n` in a streaming case lands on `n`, not on
`stream`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from mutating_proxy import DONE, Ctx, Mutation, RunningProxy, drop_connection, error, first_time_only
from mutation_support import (
    BROKEN,
    IGNORED,
    INCONCLUSIVE,
    PASSED,
    REJECTED,
    SKIPPED,
    Row,
    assert_only_flagged,
    cells_of,
    edited_copy,
    plain,
    proxy_fixture,
    streamed,
    strip,
)

from conformance.api import RunConfig, run_suite
from conformance.results import CellState, RunResults, Verdict

_SENT: dict[str, int] = {}  # row name -> requests the mutation answered instead of the server


def counted(name: str, respond: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    def answer(ctx: Ctx) -> Any:
        _SENT[name] = _SENT.get(name, 0) + 1
        return respond(ctx)

    return answer


def noisy(body: dict[str, Any]) -> None:
    """Every answer ends differently, as on a server whose greedy output does not repeat."""
    for choice in body.get("choices", []):
        choice["message"]["content"] = f"{choice['message']['content']} {random.randrange(10**9)}"


def cut_stream(events: list[Any], ctx: Ctx) -> list[Any]:
    """The first chunk and a bare [DONE]: a running stream cancelled by a newer request."""
    return [events[0], DONE]


def only_first_choice(events: list[Any], ctx: Ctx) -> list[Any]:
    return [e for e in events if not isinstance(e, dict) or all(c.get("index", 0) == 0 for c in e.get("choices", []))]


def responses_route(ctx: Ctx) -> bool:
    return ctx.path.startswith("/responses")


NOT_FOUND = {"detail": "Not Found"}
MODEL_NOT_FOUND = {"error": {"message": "The model does not exist", "type": "invalid_request_error", "param": "model",
                             "code": "model_not_found"}}  # fmt: skip
RESPONSES = ["responses.basic", "responses.instructions", "responses.stream.framing"]
STREAMS = ["chat.stream.framing", "chat.stream.include_usage", "chat.stream.same_text", "chat.basic", "chat.max_tokens.truncates"]

R = Row
ROWS = [
    # inconclusive: the comparison fails, and the probes saw three different greedy answers
    R("noisy_answers", Mutation(when=plain, body=edited_copy(noisy)), ["chat.seed.repeatable"], {"chat.seed.repeatable": INCONCLUSIVE}),
    R("seed_ignored", strip("seed"), ["chat.seed.repeatable"], {"chat.seed.repeatable": IGNORED}),
    # endpoint not served: one line for the endpoint, its cases never sent
    R("responses_not_served", Mutation(when=responses_route, respond=counted("responses_not_served", error(404, NOT_FOUND))),
      [*RESPONSES, "chat.basic"], dict.fromkeys(RESPONSES, REJECTED)),
    R("responses_model_404", Mutation(when=responses_route, respond=counted("responses_model_404", error(404, MODEL_NOT_FOUND))),
      [*RESPONSES, "chat.basic"], {**dict.fromkeys(RESPONSES, REJECTED), "responses.instructions": SKIPPED}),
    R(
        "models_retrieve_not_served",
        Mutation(when=lambda c: c.method == "GET" and c.path.startswith("/models/"), respond=error(404, NOT_FOUND)),
        ["models.*"],
        {"models.retrieve": REJECTED, "models.retrieve.unknown": REJECTED},
    ),
    # the retry: a dropped connection is tried once more
    R("dropped_once", Mutation(when=first_time_only(plain), respond=drop_connection), ["chat.basic", "chat.max_tokens.truncates"], {}),
    R("dropped_always", Mutation(when=plain, respond=drop_connection), ["chat.basic"], {"chat.basic": BROKEN}),
    # fails under concurrency: streams are cut only while another request is in flight
    R("cut_when_busy", Mutation(when=lambda c: streamed(c) and c.in_flight > 0, events=cut_stream), STREAMS, {}),
    R("cut_always", Mutation(when=streamed, events=cut_stream), ["chat.stream.framing"], {"chat.stream.framing": IGNORED}),
    # attribution: a stream with n=2 that carries one choice is a defect of `n`, not of `stream`
    R("stream_one_choice", Mutation(when=lambda c: streamed(c) and (c.param("n") or 1) > 1, events=only_first_choice),
      ["chat.stream.n", "chat.stream.framing"], {"chat.stream.n": PASSED}),
]
BY_NAME = {r.name: r for r in ROWS}

proxy = proxy_fixture(ROWS)


def run(proxy: RunningProxy, name: str, concurrency: int = 4) -> RunResults:
    row = BY_NAME[name]
    return run_suite(RunConfig(base_url=proxy.base_url(name), only=row.only, timeout=60, concurrency=concurrency))


def case(results: RunResults, case_id: str) -> Any:
    return next(c for c in results.cases if c.case_id == case_id)


def test_table_names_are_unique() -> None:
    assert len(BY_NAME) == len(ROWS)


@pytest.mark.parametrize("name", ["noisy_answers", "seed_ignored"])
def test_inconclusive_only_where_the_server_does_not_repeat(proxy: RunningProxy, name: str) -> None:
    results = run(proxy, name)
    assert_only_flagged(results, BY_NAME[name])
    chat = next(r for r in results.repeatability if r.endpoint == "chat.completions")
    found = case(results, "chat.seed.repeatable")
    assert found.attempts == 3, found.notes
    if name == "noisy_answers":
        assert (chat.repeats, chat.distinct) == (False, 3)
        assert "does not repeat its greedy answers (3 distinct answers to 3" in found.reason
    else:
        assert (chat.repeats, chat.distinct) == (True, 1)


@pytest.mark.parametrize("name", ["responses_not_served", "responses_model_404"])
def test_endpoint_not_served_only_when_the_route_is_missing(proxy: RunningProxy, name: str) -> None:
    results = run(proxy, name)
    assert_only_flagged(results, BY_NAME[name])
    reasons = {case(results, cid).reason.split(":")[0] for cid in RESPONSES}  # "shared baseline 'greedy' ..." when skipped
    responses = next(r for r in results.repeatability if r.endpoint == "responses")
    if name == "responses_not_served":
        assert reasons == {"endpoint not served"}
        assert not responses.served and _SENT[name] == 1  # the probe's one call; no case was sent
        assert all("endpoint not served" in cell.summary for cell in results.cells if cell.endpoint == "responses")
    else:
        assert "endpoint not served" not in reasons and responses.served
        assert _SENT[name] > len(RESPONSES)  # every case was sent and refused on its own


def test_a_missing_route_makes_only_its_rows_not_served(proxy: RunningProxy) -> None:
    results = run(proxy, "models_retrieve_not_served")
    assert_only_flagged(results, BY_NAME["models_retrieve_not_served"])  # models.list still passes
    for case_id in ("models.retrieve", "models.retrieve.unknown"):
        assert case(results, case_id).reason.startswith("endpoint not served: GET /models/"), case(results, case_id).reason


def test_a_connection_dropped_once_is_retried_and_the_evidence_says_so(proxy: RunningProxy) -> None:
    results = run(proxy, "dropped_once")
    assert_only_flagged(results, BY_NAME["dropped_once"])
    basic = case(results, "chat.basic")
    assert any("retried once on a fresh connection" in n for n in basic.notes), basic.notes
    assert any("connection failed; retried" in e.label for e in basic.evidence)


def test_a_connection_dropped_every_time_is_still_broken(proxy: RunningProxy) -> None:
    results = run(proxy, "dropped_always", concurrency=1)
    assert_only_flagged(results, BY_NAME["dropped_always"])
    basic = case(results, "chat.basic")
    assert basic.reason.startswith("connection failed") and any("failed again" in n for n in basic.notes)


def test_a_stream_cut_only_under_load_passes_alone_and_says_so(proxy: RunningProxy) -> None:
    results = run(proxy, "cut_when_busy")
    assert_only_flagged(results, BY_NAME["cut_when_busy"])  # every case passes: the verdicts are the ones alone
    found = [c for c in results.cases if c.under_concurrency]
    assert found and all(c.case_id.startswith("chat.stream.") for c in found), [(c.case_id, c.under_concurrency) for c in found]
    cells = cells_of(results, BY_NAME["cut_when_busy"])
    assert cells[("chat.completions", "stream")].under_concurrency


def test_a_stream_always_cut_is_no_concurrency_finding(proxy: RunningProxy) -> None:
    results = run(proxy, "cut_always")
    assert_only_flagged(results, BY_NAME["cut_always"])
    assert not case(results, "chat.stream.framing").under_concurrency


def test_a_check_about_n_in_a_streaming_case_lands_on_n(proxy: RunningProxy) -> None:
    results = run(proxy, "stream_one_choice")
    cells = cells_of(results, BY_NAME["stream_one_choice"])
    assert cells[("chat.completions", "stream")].state is CellState.SUPPORTED
    n = cells.get(("chat.completions", "n"))
    assert n is not None and n.state is CellState.IGNORED and "chat.stream.n" in n.case_ids, n
    assert case(results, "chat.stream.n").verdict is Verdict.PASS
