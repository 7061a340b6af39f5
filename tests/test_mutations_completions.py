"""Every /v1/completions check must be able to fail: real answers, altered to break one rule each.

The same table as tests/test_mutations.py (one row per mutation: what the proxy does, which cases
run, and the verdict and cell each flagged case must get; every other selected case must keep its
usual outcome). On the reference server `completions.suffix` is refused (the bundled model has no
fill-in-the-middle tokens), so its usual outcome is "rejected", and the rows for it make the proxy
accept the suffix to show that the check can still fail. Below the table: the predicates and the
stream assembler these cases added, each shown to pass and to fail.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest
from mutating_proxy import DONE, Ctx, Mutation, RunningProxy, error
from mutation_support import (
    BROKEN,
    IGNORED,
    PASSED,
    REJECTED,
    SCHEMA,
    Row,
    assert_only_flagged,
    edited_copy,
    edited_or_replaced_copy,
    posts_to,
    proxy_fixture,
)

from conformance import sse
from conformance.api import RunConfig, list_cases, run_suite
from conformance.cases import Expectation
from conformance.checks import judge

USUAL = {"completions.suffix": REJECTED}  # outcomes on the unmutated reference server, if not a pass

# --- when ----------------------------------------------------------------------------------------

created, plain, streamed = posts_to("/completions")


def asks(*names: str) -> Callable[[Ctx], bool]:
    return lambda ctx: created(ctx) and any(n in (ctx.json or {}) for n in names)


def prompt_is(kind: Callable[[Any], bool]) -> Callable[[Ctx], bool]:
    return lambda ctx: created(ctx) and kind(ctx.param("prompt"))


def ids(p: Any) -> bool:
    return isinstance(p, list) and bool(p) and all(isinstance(t, int) for t in p)


def id_lists(p: Any) -> bool:
    return isinstance(p, list) and bool(p) and all(isinstance(t, list) for t in p)


def texts(p: Any) -> bool:
    return isinstance(p, list) and len(p) > 1 and all(isinstance(t, str) for t in p)


# --- what the proxy does -------------------------------------------------------------------------


def request(when: Callable[[Ctx], bool], fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Mutation:
    return Mutation(when=when, request=fn)


def strip(*names: str) -> Mutation:
    """The server ignores these parameters."""
    return request(asks(*names), lambda j: {k: v for k, v in j.items() if k not in names})


def body(when: Callable[[Ctx], bool], fn: Callable[[dict[str, Any]], None], statuses: tuple[int, ...] = (200,)) -> Mutation:
    return Mutation(when=when, body=edited_copy(fn), statuses=statuses)


def logprobs_of(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda b: fn(b["choices"][0]["logprobs"])


def chunks(fn: Callable[[list[Any]], list[Any] | None], when: Callable[[Ctx], bool] = streamed) -> Mutation:
    return Mutation(when=when, events=edited_or_replaced_copy(fn))


def text_chunks(events: list[Any]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0].get("text")]


def refuse(when: Callable[[Ctx], bool], param: str) -> Mutation:
    envelope = {"error": {"message": "Unsupported parameter", "type": "invalid_request_error", "param": param, "code": None}}
    return Mutation(when=when, respond=error(400, envelope))


def interleave(b: dict[str, Any]) -> None:
    """Choices numbered choice-major (p0c0, p1c0, p0c1, p1c1) instead of prompt-major."""
    choices = b["choices"]
    b["choices"] = [{**c, "index": i} for i, c in enumerate([choices[0], choices[2], choices[1], choices[3]])]


def echo_without_prompt_logprobs(b: dict[str, Any]) -> None:
    """Like llama.cpp's server: echo, but logprobs only for the generated tokens."""
    keep = b["usage"]["completion_tokens"]
    lp = b["choices"][0]["logprobs"]
    for key in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
        lp[key] = lp[key][-keep:]


def invented_first_logprob(lp: dict[str, Any]) -> None:
    lp["token_logprobs"][0] = -1.0
    lp["top_logprobs"][0] = {lp["tokens"][0]: -1.0}


def stop_kept(b: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The server leaves the stop string in the text."""
    b = copy.deepcopy(b)
    stop = ctx.param("stop")
    if b["choices"][0]["finish_reason"] == "stop":
        b["choices"][0]["text"] += stop[-1] if isinstance(stop, list) else stop
    return b


def usage_chunk(events: list[Any]) -> dict[str, Any]:
    return next(e for e in events if isinstance(e, dict) and e.get("choices") == [])


SERVED_MODEL: dict[str, str] = {}  # filled by the proxy fixture: the model the server really has


# --- the table -----------------------------------------------------------------------------------


R = Row
ROWS = [
    # the answer
    R("object_renamed", body(plain, lambda b: b.update(object="completion")), ["completions.basic", "completions.errors.logprobs_range"], {"completions.basic": SCHEMA}),
    R("logprobs_unasked", body(lambda c: plain(c) and "logprobs" not in c.json, lambda b: b["choices"][0].update(logprobs={"tokens": []})), ["completions.basic"], {"completions.basic": IGNORED}),
    R("usage_total_wrong", body(plain, lambda b: b["usage"].update(total_tokens=b["usage"]["total_tokens"] + 1)), ["completions.basic"], {"completions.basic": IGNORED}),
    R("temperature_zero_ignored", request(lambda c: created(c) and c.param("temperature") == 0, lambda j: {**j, "temperature": 1.0}), ["completions.temperature.zero_repeatable"], {"completions.temperature.zero_repeatable": IGNORED}),
    # prompt forms
    R("prompt_list_first_only", request(prompt_is(texts), lambda j: {**j, "prompt": j["prompt"][0]}), ["completions.prompt.list*"], {"completions.prompt.list": IGNORED, "completions.prompt.list_n": IGNORED}),
    R("prompt_list_choice_major", body(lambda c: plain(c) and texts(c.param("prompt")) and c.param("n") == 2, interleave), ["completions.prompt.list_n"], {"completions.prompt.list_n": IGNORED}),
    R("token_ids_read_as_text", request(prompt_is(ids), lambda j: {**j, "prompt": str(j["prompt"])}), ["completions.prompt.token_id*"], {"completions.prompt.token_ids": IGNORED, "completions.prompt.token_id_lists": IGNORED}),
    R("token_ids_truncated", request(prompt_is(ids), lambda j: {**j, "prompt": j["prompt"][:-1]}), ["completions.prompt.token_ids"], {"completions.prompt.token_ids": IGNORED}),
    R("token_id_lists_first_only", request(prompt_is(id_lists), lambda j: {**j, "prompt": j["prompt"][0]}), ["completions.prompt.token_id*"], {"completions.prompt.token_id_lists": IGNORED}),
    # suffix (refused by the reference server: the proxy makes it accept, wrongly)
    R("suffix_ignored", strip("suffix"), ["completions.suffix", "completions.basic"], {"completions.suffix": IGNORED}),
    R("suffix_500", Mutation(when=asks("suffix"), respond=error(500, "Internal Server Error", "text/plain")), ["completions.suffix"], {"completions.suffix": BROKEN}),
    R("user_refused", refuse(asks("user"), "user"), ["completions.user", "completions.basic"], {"completions.user": REJECTED}),
    # echo
    R("echo_ignored", strip("echo"), ["completions.echo*"], {"completions.echo": IGNORED, "completions.echo.logprobs": IGNORED}),
    R("echo_counted_as_completion", body(asks("echo"), lambda b: b["usage"].update(completion_tokens=b["usage"]["completion_tokens"] + b["usage"]["prompt_tokens"])), ["completions.echo"], {"completions.echo": IGNORED}),
    R("echo_prompt_logprobs_missing", body(lambda c: asks("echo")(c) and "logprobs" in c.json, echo_without_prompt_logprobs), ["completions.echo*"], {"completions.echo.logprobs": IGNORED}),
    R("echo_first_logprob_invented", body(lambda c: asks("echo")(c) and "logprobs" in c.json, logprobs_of(invented_first_logprob)), ["completions.echo.logprobs"], {"completions.echo.logprobs": IGNORED}),
    R("echo_offsets_shifted", body(lambda c: asks("echo")(c) and "logprobs" in c.json, logprobs_of(lambda lp: lp.update(text_offset=[o + 1 for o in lp["text_offset"]]))), ["completions.echo.logprobs"], {"completions.echo.logprobs": IGNORED}),
    # logprobs
    R("logprobs_dropped", body(asks("logprobs"), lambda b: b["choices"][0].update(logprobs=None)), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    R("logprob_token_wrong", body(asks("logprobs"), logprobs_of(lambda lp: lp["tokens"].__setitem__(0, "X" + lp["tokens"][0]))), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    R("logprob_positive", body(asks("logprobs"), logprobs_of(lambda lp: lp["token_logprobs"].__setitem__(1, 0.5))), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    R("top_logprobs_short", body(asks("logprobs"), logprobs_of(lambda lp: lp.update(top_logprobs=[dict(list(t.items())[:1]) for t in lp["top_logprobs"]]))), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    R("top_logprob_disagrees", body(asks("logprobs"), logprobs_of(lambda lp: lp["top_logprobs"][0].update({lp["tokens"][0]: -99.0}))), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    R("text_offset_gap", body(asks("logprobs"), logprobs_of(lambda lp: lp["text_offset"].__setitem__(2, lp["text_offset"][2] + 1))), ["completions.logprobs"], {"completions.logprobs": IGNORED}),
    # n, best_of, seed and the other sampling parameters
    R("n_ignored", strip("n"), ["completions.n"], {"completions.n": IGNORED}),
    R("n_copies", body(lambda c: plain(c) and c.param("n") == 3 and "logprobs" not in c.json, lambda b: [c.update(text=b["choices"][0]["text"]) for c in b["choices"]] and None), ["completions.n"], {"completions.n": IGNORED}),
    R("best_of_ignored", strip("best_of"), ["completions.best_of", "completions.best_of.usage"], {"completions.best_of": IGNORED, "completions.best_of.usage": IGNORED}),
    R("best_of_billed_once", body(lambda c: created(c) and "best_of" in c.json, lambda b: b["usage"].update(completion_tokens=6)), ["completions.best_of.usage"], {"completions.best_of.usage": IGNORED}),
    R("best_of_returns_all", request(asks("best_of"), lambda j: {**j, "n": j["best_of"]}), ["completions.best_of"], {"completions.best_of": IGNORED}),
    R("seed_ignored", request(asks("seed"), lambda j: {**j, "seed": random.randrange(10**9)}), ["completions.seed.repeatable", "completions.top_p.*"], {"completions.seed.repeatable": IGNORED}),
    R("top_p_ignored", strip("top_p"), ["completions.top_p.*"], {"completions.top_p.tiny_is_greedy": IGNORED}),
    R("presence_penalty_ignored", strip("presence_penalty"), ["completions.presence_penalty.*"], {"completions.presence_penalty.changes_output": IGNORED}),
    R("frequency_penalty_ignored", strip("frequency_penalty"), ["completions.frequency_penalty.*"], {"completions.frequency_penalty.changes_output": IGNORED}),
    R("logit_bias_ignored", strip("logit_bias"), ["completions.logit_bias.force"], {"completions.logit_bias.force": IGNORED}),
    # where generation ends
    R("default_max_tokens_not_16", request(lambda c: created(c) and "max_tokens" not in c.json, lambda j: {**j, "max_tokens": 20}), ["completions.max_tokens.default"], {"completions.max_tokens.default": IGNORED}),
    R("max_tokens_overrun", request(lambda c: created(c) and c.param("max_tokens") == 3, lambda j: {**j, "max_tokens": 6}), ["completions.max_tokens.truncates", "completions.basic"], {"completions.max_tokens.truncates": IGNORED}),
    R("length_reported_as_stop", body(lambda c: plain(c) and c.param("max_tokens") in (3, None), lambda b: b["choices"][0].update(finish_reason="stop")), ["completions.max_tokens.*"], {"completions.max_tokens.truncates": IGNORED, "completions.max_tokens.default": IGNORED}),
    R("stop_ignored", strip("stop"), ["completions.stop.*"], {"completions.stop.string": IGNORED, "completions.stop.list": IGNORED}),
    R("stop_string_kept", Mutation(when=lambda c: plain(c) and "stop" in c.json, body=stop_kept), ["completions.stop.*"], {"completions.stop.string": IGNORED, "completions.stop.list": IGNORED}),
    # streaming
    R("stream_no_done", chunks(lambda evs: [e for e in evs if e != DONE]), ["completions.stream.*"], {"completions.stream.framing": SCHEMA, "completions.stream.include_usage": SCHEMA}),
    R("stream_ids_differ", chunks(lambda evs: evs[1].update(id="cmpl-other")), ["completions.stream.framing", "completions.stream.same_text"], {"completions.stream.framing": SCHEMA}),
    R("stream_finish_early", chunks(lambda evs: text_chunks(evs)[0]["choices"][0].update(finish_reason="length")), ["completions.stream.framing"], {"completions.stream.framing": IGNORED}),
    R("stream_chat_chunks", chunks(lambda evs: [e.update(object="chat.completion.chunk") for e in evs if isinstance(e, dict)] and None), ["completions.stream.framing"], {"completions.stream.framing": IGNORED}),
    R("stream_text_null", chunks(lambda evs: text_chunks(evs)[0]["choices"][0].update(text=None)), ["completions.stream.framing"], {"completions.stream.framing": IGNORED}),
    R("stream_stray_line", Mutation(when=streamed, raw=lambda t: t.replace("\n\n", "\n\nnot-a-field\n", 1)), ["completions.stream.framing"], {"completions.stream.framing": SCHEMA}),
    R("stream_text_differs", chunks(lambda evs: text_chunks(evs)[-1]["choices"][0].update(text=text_chunks(evs)[-1]["choices"][0]["text"] + " (edited)")), ["completions.stream.same_text"], {"completions.stream.same_text": IGNORED}),
    R("stream_usage_chunk_missing", chunks(lambda evs: [e for e in evs if not (isinstance(e, dict) and e.get("choices") == [])]), ["completions.stream.include_usage"], {"completions.stream.include_usage": IGNORED}),
    R("stream_usage_unasked", chunks(lambda evs: [e.update(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}) for e in evs if isinstance(e, dict)] and None, when=lambda c: streamed(c) and "stream_options" not in c.json), ["completions.stream.framing"], {"completions.stream.framing": SCHEMA}),
    R("stream_usage_wrong", chunks(lambda evs: usage_chunk(evs)["usage"].update(completion_tokens=usage_chunk(evs)["usage"]["completion_tokens"] + 1)), ["completions.stream.include_usage"], {"completions.stream.include_usage": IGNORED}),
    # bad input
    R("missing_prompt_accepted", request(lambda c: created(c) and "prompt" not in c.json, lambda j: {**j, "prompt": "Hi"}), ["completions.errors.missing_prompt"], {"completions.errors.missing_prompt": IGNORED}),
    R("logprobs_clamped", request(lambda c: created(c) and (c.param("logprobs") or 0) > 5, lambda j: {**j, "logprobs": 5}), ["completions.errors.logprobs_range"], {"completions.errors.logprobs_range": IGNORED}),
    R("error_param_unnamed", body(lambda c: created(c) and (c.param("logprobs") or 0) > 5, lambda b: b["error"].update(param=None), statuses=(400,)), ["completions.errors.logprobs_range"], {"completions.errors.logprobs_range": IGNORED}),
    R("error_fastapi_shape", Mutation(when=lambda c: created(c) and (c.param("logprobs") or 0) > 5, respond=error(400, {"detail": "logprobs too large"})), ["completions.errors.logprobs_range"], {"completions.errors.logprobs_range": SCHEMA}),
    R("best_of_below_n_accepted", request(lambda c: created(c) and c.param("best_of") == 1, lambda j: {k: v for k, v in j.items() if k != "best_of"}), ["completions.errors.best_of_*"], {"completions.errors.best_of_below_n": IGNORED}),
    R("best_of_streamed_anyway", request(lambda c: streamed(c) and "best_of" in c.json, lambda j: {k: v for k, v in j.items() if k != "best_of"}), ["completions.errors.best_of_*"], {"completions.errors.best_of_stream": IGNORED}),
    R("unknown_model_served", request(lambda c: created(c) and "no-such-model" in str(c.param("model")), lambda j: {**j, "model": SERVED_MODEL["id"]}), ["completions.errors.unknown_model"], {"completions.errors.unknown_model": IGNORED}),
]


proxy = proxy_fixture(ROWS, SERVED_MODEL)


def test_table_names_are_unique() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)


def test_every_completions_case_has_a_row_and_the_matrix_its_rows() -> None:
    """No case whose checks were never shown to fail; every row the issue lists is in the matrix."""
    cases = [c for c in list_cases() if c.endpoint == "completions"]
    flagged = {cid for r in ROWS for cid in r.flagged}
    assert [c.id for c in cases if c.id not in flagged] == []
    rows = {c.parameter for c in cases}
    for row in [
        "prompt", "prompt.list", "prompt.token_ids", "prompt.token_id_lists", "suffix", "echo", "echo.logprobs",
        "logprobs", "n", "best_of", "stop", "seed", "max_tokens", "temperature", "stream", "stream_options.include_usage",
    ]:  # fmt: skip
        assert row in rows, row


def test_unmutated_proxy_passes(proxy: RunningProxy) -> None:
    """The proxy itself changes nothing: the usual outcome of every case is the baseline of each row."""
    only = ["completions.basic", "completions.suffix", "completions.stream.framing", "completions.echo.logprobs"]
    results = run_suite(RunConfig(base_url=proxy.base_url("none"), only=only))
    got = {c.case_id: c.verdict for c in results.cases}
    assert got == {cid: USUAL.get(cid, PASSED).verdict for cid in only}, [c.reason for c in results.cases]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_mutation_is_flagged(proxy: RunningProxy, row: Row) -> None:
    results = run_suite(RunConfig(base_url=proxy.base_url(row.name), only=row.only, timeout=60, concurrency=4))
    assert_only_flagged(results, row, USUAL)


# --- the predicates and the assembler these cases added --------------------------------------------

PREDICATE_CASES = [
    ({"field": "v", "offsets_of": "${t}"}, [10, 13, 17], [10, 13, 18]),  # t: "The", " sea", " is"
    ({"field": "v", "offsets_of": "${t}"}, [0, 3, 7], [0, 3]),  # one offset per string
    ({"field": "v", "offsets_of": "${t}"}, [0, 3, 7], ["0", "3", "7"]),
    ({"field": "v", "count": 2}, {"a": -1.0, "b": -2.0}, {"a": -1.0}),  # an object's keys
    ({"field": "v", "each": {"count": {"min": 1, "max": 3}}}, [{"a": 0}, {"a": 0, "b": 0, "c": 0}], [{}, {"a": 0}]),
]


@pytest.mark.parametrize(("spec", "good", "bad"), PREDICATE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(PREDICATE_CASES)])
def test_added_predicates_pass_and_fail(spec: dict[str, Any], good: object, bad: object) -> None:
    exp = Expectation.model_validate(spec)
    names = {"t": ["The", " sea", " is"]}
    assert judge(exp, {"v": good}, names, None).passed is True
    assert judge(exp, {"v": bad}, names, None).passed is False


def test_completion_chunks_assemble() -> None:
    def chunk(index: int, text: str, finish: str | None = None, lp: dict[str, Any] | None = None) -> dict[str, Any]:
        choice = {"index": index, "text": text, "logprobs": lp, "finish_reason": finish}
        return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}

    lp1 = {"tokens": ["The"], "token_logprobs": [None], "top_logprobs": [None], "text_offset": [0]}
    lp2 = {"tokens": [" sea"], "token_logprobs": [-1.5], "top_logprobs": [{" sea": -1.5}], "text_offset": [3]}
    usage = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [], "usage": {"total_tokens": 3}}
    got = sse.ASSEMBLERS["completions"]([chunk(1, "x", "stop"), chunk(0, "The", lp=lp1), chunk(0, " sea", lp=lp2), chunk(0, "", "length"), usage])
    assert [c["index"] for c in got["choices"]] == [0, 1]
    first = got["choices"][0]
    assert (first["text"], first["finish_reason"]) == ("The sea", "length")
    assert first["logprobs"] == {
        "tokens": ["The", " sea"],
        "token_logprobs": [None, -1.5],
        "top_logprobs": [None, {" sea": -1.5}],
        "text_offset": [0, 3],
    }
    assert got["choices"][1] == {"index": 1, "text": "x", "finish_reason": "stop", "logprobs": None}
    assert got["usage"] == {"total_tokens": 3} and got["object"] == "text_completion"
