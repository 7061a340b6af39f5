"""Every /v1/responses check must be able to fail: real answers, altered to break one rule each.

Same table as tests/test_mutations.py (one row per mutation: what the proxy does, which cases run,
and the verdict and cell each flagged case must get; every other selected case must still pass).
Below it, the Responses stream checks on hand-made streams, each shown to pass and to fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mutating_proxy import EVENT, Ctx, Mutation, RunningProxy, error
from mutation_support import (
    BROKEN,
    IGNORED,
    REJECTED,
    SCHEMA,
    SKIPPED,
    Row,
    assert_only_flagged,
    assert_unmutated_passes,
    edited_copy,
    edited_or_replaced_copy,
    posts_to,
    proxy_fixture,
)

from conformance import responses_stream, sse
from conformance.api import RunConfig, run_suite

# --- when ----------------------------------------------------------------------------------------

created, plain, streamed = posts_to("/responses")


def retrieved(ctx: Ctx) -> bool:
    return ctx.method == "GET" and ctx.path.startswith("/responses/") and not ctx.path.endswith("/input_items")


def listed(ctx: Ctx) -> bool:
    return ctx.method == "GET" and ctx.path.endswith("/input_items")


def deleted(ctx: Ctx) -> bool:
    return ctx.method == "DELETE" and ctx.path.startswith("/responses/")


def asks(name: str, value: Any = None) -> Callable[[Ctx], bool]:
    """A create request carrying `name` (with exactly `value`, when given)."""
    return lambda ctx: created(ctx) and name in (ctx.json or {}) and (value is None or ctx.param(name) == value)


def input_has(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[Ctx], bool]:
    return lambda ctx: created(ctx) and isinstance(ctx.param("input"), list) and any(predicate(i) for i in ctx.param("input"))


# --- what ----------------------------------------------------------------------------------------


def request(when: Callable[[Ctx], bool], fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Mutation:
    return Mutation(when=when, request=fn)


def strip(name: str) -> Mutation:
    """The server ignores this parameter."""
    return request(asks(name), lambda j: {k: v for k, v in j.items() if k != name})


def body(when: Callable[[Ctx], bool], fn: Callable[[dict[str, Any]], None]) -> Mutation:
    return Mutation(when=when, body=edited_copy(fn))


def events(fn: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None], when: Callable[[Ctx], bool] = streamed) -> Mutation:
    return Mutation(when=when, events=edited_or_replaced_copy(fn))


def refuse(when: Callable[[Ctx], bool], param: str) -> Mutation:
    envelope = {"error": {"message": "Unsupported parameter", "type": "invalid_request_error", "param": param, "code": None}}
    return Mutation(when=when, respond=error(400, envelope))


def text_part(b: dict[str, Any]) -> dict[str, Any]:
    message = next(i for i in b["output"] if i["type"] == "message")
    return message["content"][0]


def renumber(evs: list[dict[str, Any]]) -> None:
    for i, e in enumerate(evs):
        e["sequence_number"] = i


def typed(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: isinstance(e, dict) and e.get("type") == kind


def mark_incomplete_completed(b: dict[str, Any]) -> None:
    if b["status"] == "incomplete":
        b.update(status="completed", incomplete_details=None)
        for item in b["output"]:
            item["status"] = "completed"


def mark_completed_incomplete(b: dict[str, Any]) -> None:
    b.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})


def set_input_tokens(b: dict[str, Any]) -> None:
    usage = b["usage"]
    usage.update(input_tokens=5, total_tokens=5 + usage["output_tokens"])
    usage["input_tokens_details"]["cached_tokens"] = 0


def swap_first_two(evs: list[dict[str, Any]]) -> None:
    evs[0], evs[1] = evs[1], evs[0]
    renumber(evs)


def drop_terminal(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in evs if e.get("type") not in responses_stream.TERMINAL]


def done_text_altered(evs: list[dict[str, Any]]) -> None:
    next(e for e in evs if typed("response.output_text.done")(e))["text"] += " (edited)"


def without_item_ids(evs: list[dict[str, Any]]) -> None:
    for e in evs:
        if e.get("type") == "response.output_text.delta":
            del e["item_id"]


def terminal_renamed(evs: list[dict[str, Any]]) -> None:
    last = evs[-1]
    last["type"] = last[EVENT] = "response.completed"


def retrieved_text_altered(b: dict[str, Any]) -> None:
    text_part(b)["text"] += " (edited)"


SEA = "Write one sentence about the sea."
SUM = "What is 2+2? Answer with a number."


# --- the table -----------------------------------------------------------------------------------


R = Row
ROWS = [
    # the response object
    R("created_at_missing", body(plain, lambda b: b.pop("created_at") and None), ["responses.basic"], {"responses.basic": SCHEMA}),
    R("incomplete_without_details", body(plain, lambda b: b.update(incomplete_details=None)), ["responses.basic", "responses.max_output_tokens.room"], {"responses.basic": IGNORED}),
    # input forms and instructions
    R("responses_prompt_differs_from_chat", request(asks("input", SEA), lambda j: {**j, "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": j["input"]}]}), ["responses.input.matches_chat"], {"responses.input.matches_chat": IGNORED}),
    R("message_list_ignored", request(input_has(lambda i: "type" not in i and i.get("role") == "user"), lambda j: {**j, "input": "Hello"}), ["responses.input.messages", "responses.input.content_parts"], {"responses.input.messages": IGNORED}),
    R("content_parts_dropped", request(input_has(lambda i: i.get("type") == "message"), lambda j: {**j, "input": "Hello"}), ["responses.input.content_parts", "responses.input.messages"], {"responses.input.content_parts": IGNORED}),
    R("instructions_ignored", strip("instructions"), ["responses.instructions", "responses.basic"], {"responses.instructions": IGNORED}),
    R("system_items_dropped", request(input_has(lambda i: i.get("role") in ("system", "developer")), lambda j: {**j, "input": [i for i in j["input"] if i.get("role") not in ("system", "developer")]}), ["responses.instructions"], {"responses.instructions": SKIPPED}),
    # length
    R("max_output_tokens_overrun", request(asks("max_output_tokens", 16), lambda j: {**j, "max_output_tokens": 24}), ["responses.max_output_tokens.truncates"], {"responses.max_output_tokens.truncates": IGNORED}),
    R("incomplete_reported_completed", body(plain, mark_incomplete_completed), ["responses.max_output_tokens.*", "responses.basic"], {"responses.max_output_tokens.truncates": IGNORED}),
    R("completed_reported_incomplete", body(lambda c: plain(c) and c.param("input") == SUM and c.param("max_output_tokens") != 64, mark_completed_incomplete), ["responses.max_output_tokens.room"], {"responses.max_output_tokens.room": IGNORED}),
    # sampling and reasoning
    R("temperature_forced_zero", request(lambda c: asks("temperature", 2)(c) and "top_p" not in c.json, lambda j: {**j, "temperature": 0}), ["responses.temperature.*"], {"responses.temperature.high_varies": IGNORED}),
    R("temperature_zero_ignored", request(asks("temperature", 0), lambda j: {**j, "temperature": 1.5}), ["responses.temperature.zero_repeatable"], {"responses.temperature.zero_repeatable": IGNORED}),
    R("top_p_ignored", strip("top_p"), ["responses.top_p.*", "responses.temperature.zero_repeatable"], {"responses.top_p.tiny_is_greedy": IGNORED}),
    R("reasoning_refused", refuse(asks("reasoning"), "reasoning"), ["responses.reasoning", "responses.basic"], {"responses.reasoning": REJECTED}),
    R("reasoning_not_echoed", body(lambda c: plain(c) and asks("reasoning")(c), lambda b: b.update(reasoning={"effort": None, "summary": None})), ["responses.reasoning"], {"responses.reasoning": IGNORED}),
    R("reasoning_tokens_missing", body(lambda c: plain(c) and asks("reasoning")(c), lambda b: b["usage"].pop("output_tokens_details") and None), ["responses.reasoning"], {"responses.reasoning": SCHEMA}),
    # usage
    R("usage_total_wrong", body(plain, lambda b: b["usage"].update(total_tokens=b["usage"]["total_tokens"] + 1)), ["responses.usage"], {"responses.usage": IGNORED}),
    R("usage_input_tokens_constant", body(plain, set_input_tokens), ["responses.usage"], {"responses.usage": IGNORED}),
    # function-call items
    R("function_output_ignored", request(input_has(typed("function_call_output")), lambda j: {**j, "input": [{**i, "output": "ok"} if i.get("type") == "function_call_output" else i for i in j["input"]]}), ["responses.input.function_call*"], {"responses.input.function_call_output": IGNORED, "responses.input.function_call.matches_chat": IGNORED}),
    R("function_call_dropped", request(input_has(typed("function_call")), lambda j: {**j, "input": [i for i in j["input"] if i.get("type") != "function_call"]}), ["responses.input.function_call.matches_chat"], {"responses.input.function_call.matches_chat": IGNORED}),
    R("text_format_refused", refuse(asks("text"), "text"), ["responses.text.format.text"], {"responses.text.format.text": REJECTED}),
    # function tools and structured output
    R("named_choice_other_function", body(lambda c: plain(c) and isinstance(c.param("tool_choice"), dict), lambda b: [o.update(name="get_weather") for o in b["output"]] and None), ["responses.tool_choice.named"], {"responses.tool_choice.named": IGNORED}),
    R("tool_choice_ignored", strip("tool_choice"), ["responses.tool_choice.required", "responses.text.format.json_schema"], {"responses.tool_choice.required": IGNORED}),
    R("arguments_off_schema", body(lambda c: plain(c) and c.param("tool_choice") == "required", lambda b: [o.update(arguments='{"town": "Paris"}') for o in b["output"]] and None), ["responses.tool_choice.required"], {"responses.tool_choice.required": IGNORED}),
    R("tool_choice_none_ignored", request(asks("tool_choice", "none"), lambda j: {**j, "tool_choice": "required"}), ["responses.tool_choice.none"], {"responses.tool_choice.none": IGNORED}),
    R("parallel_off_ignored", body(lambda c: plain(c) and c.param("parallel_tool_calls") is False, lambda b: b["output"].append({**b["output"][0], "id": "fc_extra"})), ["responses.parallel_tool_calls.off"], {"responses.parallel_tool_calls.off": IGNORED}),
    R("tools_refused", refuse(asks("tools"), "tools"), ["responses.tool_choice.none", "responses.basic"], {"responses.tool_choice.none": REJECTED}),
    R("stored_call_forgotten", request(lambda c: asks("previous_response_id")(c) and asks("tools")(c), lambda j: {k: v for k, v in j.items() if k != "previous_response_id"}), ["responses.tools.output_round_trip"], {"responses.tools.output_round_trip": IGNORED}),
    R("streamed_arguments_differ", events(lambda evs: next(e for e in evs if typed("response.function_call_arguments.delta")(e)).update(delta=" ") and None, when=lambda c: streamed(c) and asks("tools")(c)), ["responses.tools.stream"], {"responses.tools.stream": IGNORED}),
    R("text_format_ignored", strip("text"), ["responses.text.format.*"], {"responses.text.format.json_object": IGNORED, "responses.text.format.json_schema": IGNORED, "responses.text.format.invalid_schema": IGNORED}),
    R("open_strict_schema_accepted", request(lambda c: asks("text")(c) and "open_city" in json.dumps(c.param("text")), lambda j: {**j, "text": {"format": {**j["text"]["format"], "strict": False}}}), ["responses.text.format.invalid_schema"], {"responses.text.format.invalid_schema": IGNORED}),
    # streaming
    R("stream_event_names_dropped", Mutation(when=streamed, raw=lambda t: "\n".join(line for line in t.split("\n") if not line.startswith("event:"))), ["responses.stream.*"], {"responses.stream.framing": SCHEMA}),
    R("stream_numbered_from_one", events(lambda evs: [e.update(sequence_number=i + 1) for i, e in enumerate(evs)] and None), ["responses.stream.*"], {"responses.stream.framing": SCHEMA}),
    R("stream_created_late", events(swap_first_two), ["responses.stream.*"], {"responses.stream.framing": IGNORED}),
    R("stream_no_terminal", events(drop_terminal), ["responses.stream.*"], {"responses.stream.framing": IGNORED, "responses.stream.same_text": IGNORED}),
    R("stream_done_text_differs", events(done_text_altered), ["responses.stream.*"], {"responses.stream.framing": IGNORED}),
    R("stream_delta_without_item_id", events(without_item_ids), ["responses.stream.*"], {"responses.stream.framing": SCHEMA, "responses.stream.same_text": SCHEMA}),
    R("stream_sampled", request(lambda c: streamed(c) and c.param("temperature") == 0, lambda j: {**j, "temperature": 1.5}), ["responses.stream.*"], {"responses.stream.same_text": IGNORED}),
    R("stream_wrong_terminal", events(terminal_renamed), ["responses.stream.same_text"], {"responses.stream.same_text": IGNORED}),
    # stored responses
    R("retrieved_differs", body(retrieved, retrieved_text_altered), ["responses.store.retrieve"], {"responses.store.retrieve": IGNORED}),
    R("not_stored_by_default", request(lambda c: created(c) and "store" not in c.json, lambda j: {**j, "store": False}), ["responses.store.retrieve"], {"responses.store.retrieve": REJECTED}),
    R("store_false_ignored", request(asks("store", False), lambda j: {**j, "store": True}), ["responses.store.*"], {"responses.store.false": IGNORED}),
    R("input_items_oldest_first", body(listed, lambda b: b["data"].reverse()), ["responses.input_items"], {"responses.input_items": IGNORED}),
    R("input_items_incomplete", body(listed, lambda b: b["data"].pop() and None), ["responses.input_items"], {"responses.input_items": IGNORED}),
    R("delete_keeps_it", Mutation(when=deleted, respond=lambda c: error(200, {"id": c.path.rsplit("/", 1)[-1], "object": "response", "deleted": True})(c)), ["responses.delete"], {"responses.delete": IGNORED}),
    R("delete_says_not_deleted", body(deleted, lambda b: b.update(deleted=False)), ["responses.delete"], {"responses.delete": IGNORED}),
    R("previous_response_ignored", strip("previous_response_id"), ["responses.previous_response_id"], {"responses.previous_response_id": IGNORED}),
    R("unknown_id_fastapi_404", Mutation(when=lambda c: retrieved(c) and "no_such" in c.path, respond=error(404, {"detail": "Not Found"})), ["responses.errors.*"], {"responses.errors.unknown_id": SCHEMA}),
    R("previous_not_found_500", Mutation(when=lambda c: asks("previous_response_id")(c) and "no_such" in str(c.param("previous_response_id")), respond=error(500, "Internal Server Error", "text/plain")), ["responses.errors.*"], {"responses.errors.previous_response_not_found": BROKEN}),
]  # fmt: skip


proxy = proxy_fixture(ROWS)


def test_table_names_are_unique() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)


def test_unmutated_proxy_passes(proxy: RunningProxy) -> None:
    """The proxy itself changes nothing, event names and all."""
    assert_unmutated_passes(proxy, ["responses.stream.framing", "responses.basic", "responses.input_items"])


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_mutation_is_flagged(proxy: RunningProxy, row: Row) -> None:
    results = run_suite(RunConfig(base_url=proxy.base_url(row.name), only=row.only, timeout=60, concurrency=4))
    assert_only_flagged(results, row)


# --- the stream checks on hand-made streams --------------------------------------------------------


def _message(status: str, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": "msg_1", "type": "message", "role": "assistant", "status": status, "content": content}


def good_stream() -> list[dict[str, Any]]:
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    done = {**response, "status": "completed", "output": [_message("completed", "Hi there")]}
    part = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    evs = [
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": _message("in_progress", None)},
        {"type": "response.content_part.added", **part, "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", **part, "delta": "Hi", "logprobs": []},
        {"type": "response.output_text.delta", **part, "delta": " there", "logprobs": []},
        {"type": "response.output_text.done", **part, "text": "Hi there", "logprobs": []},
        {"type": "response.content_part.done", **part, "part": {"type": "output_text", "text": "Hi there", "annotations": []}},
        {"type": "response.output_item.done", "output_index": 0, "item": _message("completed", "Hi there")},
        {"type": "response.completed", "response": done},
    ]
    renumber(evs)
    return evs


def as_sse(evs: list[dict[str, Any]], names: bool = True) -> str:
    return "".join((f"event: {e['type']}\n" if names else "") + f"data: {json.dumps(e)}\n\n" for e in evs)


def check(name: str, text: str) -> str:
    return sse.FRAMING_CHECKS[name][1](sse.parse(text))


def test_a_good_stream_passes_every_check_and_assembles() -> None:
    text = as_sse(good_stream())
    for name in responses_stream.CHECKS:
        assert check(name, text) == "", name
    assembled = sse.ASSEMBLERS["responses"](sse.parse(text).chunks)
    assert assembled["output_text"] == "Hi there" and assembled["terminal"] == "response.completed"
    assert assembled["response"]["output"][0]["content"][0]["text"] == "Hi there"
    assert assembled["output"] == [{"type": "message", "id": "msg_1", "name": None, "text": "Hi there", "arguments": ""}]


def _moved(evs: list[dict[str, Any]], frm: int, to: int) -> list[dict[str, Any]]:
    evs.insert(to, evs.pop(frm))
    renumber(evs)
    return evs


def _with(fn: Callable[[list[dict[str, Any]]], Any]) -> list[dict[str, Any]]:
    evs = good_stream()
    out = fn(evs)
    return evs if out is None else out


@pytest.mark.parametrize(
    ("name", "stream", "message"),
    [
        ("event_names", as_sse(good_stream(), names=False), "has no event: line"),
        ("event_names", as_sse(good_stream()).replace("event: response.in_progress", "event: message"), "has event: message"),
        ("sequence_numbers", as_sse(_with(lambda e: e[3].update(sequence_number=2))), "expected 3"),
        ("sequence_numbers", as_sse(_with(lambda e: [x.pop("sequence_number") for x in e] and None)), "expected 0"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 0, 1))), "not 'response.created'"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 9, 8))), "is event 9 of 10, not the last"),
        ("responses_order", as_sse(_with(lambda e: [*e, {**e[4], "sequence_number": 10}])), "is event 10 of 11"),
        ("responses_order", as_sse(_with(lambda e: e[:-1])), "0 terminal events"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 4, 3))), "content_index 0 is not added"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 7, 6))), "content_index 0 is still receiving deltas at this point"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 8, 7))), "content part 0 of output_index 0 is not done yet"),
        ("responses_order", as_sse(_with(lambda e: e[4].update(item_id="msg_2"))), "is not the added item's id"),
        ("responses_order", as_sse(_with(lambda e: [*e[:8], *e[9:]])), "never gets 'response.output_item.done'"),
        ("responses_order", as_sse(_with(lambda e: _moved(e, 1, 2))), "comes before 'response.in_progress'"),
        ("responses_text", as_sse(_with(lambda e: e[5].update(delta=" you"))), "the deltas join to \"Hi you\""),
        ("responses_text", as_sse(_with(lambda e: e[7]["part"].update(text="Hi"))), "response.content_part.done says"),
        ("responses_text", as_sse(_with(lambda e: e[9]["response"]["output"][0]["content"][0].update(text="x"))), "differs from its"),
        ("responses_text", as_sse(_with(lambda e: e[:-1])), "no response with an output list"),
    ],
)  # fmt: skip
def test_each_stream_check_fails_on_a_broken_stream(name: str, stream: str, message: str) -> None:
    problem = check(name, stream)
    assert message in problem, problem


def test_function_call_arguments_must_add_up() -> None:
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "status": "completed", "arguments": '{"a": 1}'}
    response = {"id": "resp_1", "object": "response", "status": "completed", "output": [call]}
    evs = [
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": []}},
        {"type": "response.in_progress", "response": {**response, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**call, "status": "in_progress", "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": '{"a": '},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": "1}"},
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 0, "name": "f", "arguments": '{"a": 1}'},
        {"type": "response.output_item.done", "output_index": 0, "item": call},
        {"type": "response.completed", "response": response},
    ]
    renumber(evs)
    assert check("responses_text", as_sse(evs)) == "" and check("responses_order", as_sse(evs)) == ""
    assert sse.ASSEMBLERS["responses"](evs)["output"][0]["arguments"] == '{"a": 1}'
    evs[4]["delta"] = "2}"
    assert "argument deltas join to" in check("responses_text", as_sse(evs))
