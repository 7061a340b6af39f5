"""Every tools / response_format / vLLM-extension check must be able to fail: real answers, altered.

The same table as tests/test_mutations.py: one row per mutation (what the proxy does, which cases
run, the verdict and cell each flagged case must get); every other selected case must still pass and
its cell stay supported. Below the table, the stream pieces these cases added (the `tool_call_deltas`
framing check and the tool-call reassembly) are shown to pass and to fail on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mutating_proxy import Ctx, Mutation, RunningProxy, error
from mutation_support import (
    IGNORED,
    REJECTED,
    SCHEMA,
    SKIPPED,
    Row,
    assert_only_flagged,
    assert_unmutated_passes,
    edited_copy,
    has,
    plain,
    proxy_fixture,
    streamed,
    strip,
)

from conformance import sse
from conformance.api import RunConfig, run_suite

# --- when ----------------------------------------------------------------------------------------


def format_is(kind: str) -> Callable[[Ctx], bool]:
    return lambda ctx: ctx.chat and (ctx.param("response_format") or {}).get("type") == kind


def with_tool_result(ctx: Ctx) -> bool:
    return ctx.chat and any(m.get("role") == "tool" for m in ctx.param("messages") or [])


def choice_is(value: Any) -> Callable[[Ctx], bool]:
    return lambda ctx: ctx.chat and ctx.param("tool_choice") == value


# --- what --------------------------------------------------------------------------------------------


def body(fn: Callable[[dict[str, Any]], None], when: Callable[[Ctx], bool] = plain, statuses: tuple[int, ...] = (200,)) -> Mutation:
    return Mutation(when=when, body=edited_copy(fn), statuses=statuses)


def chunks(fn: Callable[[list[Any]], None], when: Callable[[Ctx], bool] = streamed) -> Mutation:
    return Mutation(when=when, events=edited_copy(fn))


def refuse(when: Callable[[Ctx], bool], param: str) -> Mutation:
    envelope = {"error": {"message": "Unsupported parameter", "type": "invalid_request_error", "param": param, "code": None}}
    return Mutation(when=when, respond=error(400, envelope))


def message(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda b: fn(b["choices"][0]["message"])


def each_call(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return message(lambda m: [fn(c) for c in m.get("tool_calls") or []] and None)


def tool_deltas(events: list[Any]) -> list[dict[str, Any]]:
    """The tool-call entries of every delta, in stream order."""
    out = []
    for e in events:
        if isinstance(e, dict):
            for choice in e.get("choices") or []:
                out.extend(choice.get("delta", {}).get("tool_calls") or [])
    return out


def id_in_every_delta(events: list[Any]) -> None:
    deltas = tool_deltas(events)
    for d in deltas[1:]:
        d["id"] = deltas[0]["id"]


def name_late(events: list[Any]) -> None:
    """The name comes with the second delta instead of the first."""
    first, second = tool_deltas(events)[:2]
    second["function"]["name"] = first["function"].pop("name")


def last_fragment_dropped(events: list[Any]) -> None:
    tool_deltas(events)[-1]["function"]["arguments"] = ""


def finish_as_stop(events: list[Any]) -> None:
    for e in events:
        if isinstance(e, dict):
            for choice in e.get("choices") or []:
                if choice.get("finish_reason") == "tool_calls":
                    choice["finish_reason"] = "stop"


def duplicate_call(b: dict[str, Any]) -> None:
    calls = b["choices"][0]["message"]["tool_calls"]
    calls.append({**calls[0], "id": calls[0]["id"] + "x"})


def half_json(b: dict[str, Any]) -> None:
    m = b["choices"][0]["message"]
    m["content"] = m["content"][: len(m["content"]) // 2]


def content_of_stopped(b: dict[str, Any]) -> None:
    if b["choices"][0]["finish_reason"] == "stop":
        b["choices"][0]["message"]["content"] = "The"


def one_more_token(b: dict[str, Any]) -> None:
    b["usage"]["completion_tokens"] += 1
    b["usage"]["total_tokens"] += 1


# --- the table -----------------------------------------------------------------------------------


NAMED = {"type": "function", "function": {"name": "get_time"}}
TOOLS = ["chat.tool_choice.*", "chat.parallel_tool_calls.*", "chat.tools.*"]
R = Row
ROWS = [
    # tools
    R("named_choice_ignored", Mutation(when=choice_is(NAMED), request=lambda j: {**j, "tool_choice": "required"}), ["chat.tool_choice.named", "chat.tools.stream"], {"chat.tool_choice.named": IGNORED, "chat.tools.stream": IGNORED}),
    R("tool_calls_with_empty_content", body(message(lambda m: m.update(content="")), when=lambda c: plain(c) and c.param("tool_choice") == NAMED), ["chat.tool_choice.named"], {"chat.tool_choice.named": IGNORED}),
    R("tool_calls_finish_stop", body(lambda b: b["choices"][0].update(finish_reason="stop"), when=lambda c: plain(c) and c.param("tool_choice") not in (None, "none")), ["chat.tool_choice.*", "chat.parallel_tool_calls.*"], {"chat.tool_choice.named": IGNORED, "chat.tool_choice.required": IGNORED, "chat.parallel_tool_calls.off": IGNORED}),
    R("arguments_off_schema", body(each_call(lambda c: c["function"].update(arguments='{"town": "Paris"}'))), ["chat.tool_choice.*", "chat.parallel_tool_calls.*"], {"chat.tool_choice.named": IGNORED, "chat.tool_choice.required": IGNORED, "chat.parallel_tool_calls.off": IGNORED}),
    R("tool_call_id_empty", body(each_call(lambda c: c.update(id=""))), ["chat.tool_choice.named"], {"chat.tool_choice.named": IGNORED}),
    R("tool_call_wrong_type", body(each_call(lambda c: c.update(type="tool"))), ["chat.tool_choice.named", "chat.tool_choice.none"], {"chat.tool_choice.named": SCHEMA}),
    R("none_choice_ignored", Mutation(when=choice_is("none"), request=lambda j: {**j, "tool_choice": "required"}), ["chat.tool_choice.none"], {"chat.tool_choice.none": IGNORED}),
    R("parallel_off_ignored", body(duplicate_call, when=lambda c: plain(c) and c.param("parallel_tool_calls") is False), ["chat.parallel_tool_calls.off", "chat.tool_choice.required"], {"chat.parallel_tool_calls.off": IGNORED}),
    R("tools_refused", refuse(has("tools"), "tools"), TOOLS, {"chat.tool_choice.named": REJECTED, "chat.tool_choice.required": REJECTED, "chat.tool_choice.none": REJECTED, "chat.parallel_tool_calls.off": REJECTED, "chat.tools.stream": REJECTED, "chat.tools.result_round_trip": SKIPPED}),
    R("tool_result_unanswered", body(message(lambda m: m.update(content=None)), when=with_tool_result), ["chat.tools.result_round_trip"], {"chat.tools.result_round_trip": IGNORED}),
    R("stream_call_id_repeated", chunks(id_in_every_delta), ["chat.tools.stream"], {"chat.tools.stream": IGNORED}),
    R("stream_call_named_late", chunks(name_late), ["chat.tools.stream"], {"chat.tools.stream": IGNORED}),
    R("stream_arguments_cut", chunks(last_fragment_dropped), ["chat.tools.stream"], {"chat.tools.stream": IGNORED}),
    R("stream_tool_calls_finish_stop", chunks(finish_as_stop), ["chat.tools.stream"], {"chat.tools.stream": IGNORED}),
    # response_format
    R("response_format_ignored", strip("response_format"), ["chat.response_format.*"], {"chat.response_format.json_object": IGNORED, "chat.response_format.json_schema": IGNORED, "chat.response_format.invalid_schema": IGNORED}),
    R("json_object_truncated", body(half_json, when=format_is("json_object")), ["chat.response_format.json_object"], {"chat.response_format.json_object": IGNORED}),
    R("json_schema_violated", body(message(lambda m: m.update(content='{"name": "Paris"}')), when=format_is("json_schema")), ["chat.response_format.json_schema"], {"chat.response_format.json_schema": IGNORED}),
    R("text_format_refused", refuse(format_is("text"), "response_format"), ["chat.response_format.text"], {"chat.response_format.text": REJECTED}),
    R("schema_error_unnamed", body(lambda b: b["error"].update(param=None), when=format_is("json_schema"), statuses=(400,)), ["chat.response_format.invalid_schema"], {"chat.response_format.invalid_schema": IGNORED}),
    # vLLM extensions
    R("top_k_ignored", strip("top_k"), ["chat.top_k.*"], {"chat.top_k.one_is_greedy": IGNORED}),
    R("min_p_ignored", strip("min_p"), ["chat.min_p.*"], {"chat.min_p.one_is_greedy": IGNORED}),
    R("repetition_penalty_ignored", strip("repetition_penalty"), ["chat.repetition_penalty.*"], {"chat.repetition_penalty.changes_output": IGNORED}),
    R("stop_token_ids_ignored", strip("stop_token_ids"), ["chat.stop_token_ids.*"], {"chat.stop_token_ids.halves": IGNORED}),
    R("stop_token_text_kept", body(content_of_stopped, when=has("stop_token_ids")), ["chat.stop_token_ids.*"], {"chat.stop_token_ids.halves": IGNORED}),
    R("include_stop_str_ignored", strip("include_stop_str_in_output"), ["chat.include_stop_str_in_output.*"], {"chat.include_stop_str_in_output.keeps_stop": IGNORED}),
    R("ignore_eos_ignored", strip("ignore_eos"), ["chat.ignore_eos.*"], {"chat.ignore_eos.runs_to_max_tokens": IGNORED}),
    R("ignore_eos_overrun", body(one_more_token, when=has("ignore_eos")), ["chat.ignore_eos.*"], {"chat.ignore_eos.runs_to_max_tokens": IGNORED}),
    R("top_k_refused", refuse(has("top_k"), "top_k"), ["chat.top_k.*", "chat.min_p.*"], {"chat.top_k.one_is_greedy": REJECTED}),
]  # fmt: skip


proxy = proxy_fixture(ROWS)


def test_table_names_are_unique() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)


def test_unmutated_proxy_passes(proxy: RunningProxy) -> None:
    assert_unmutated_passes(proxy, ["chat.tools.stream", "chat.top_k.one_is_greedy"])


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_mutation_is_flagged(proxy: RunningProxy, row: Row) -> None:
    results = run_suite(RunConfig(base_url=proxy.base_url(row.name), only=row.only, timeout=90, concurrency=4))
    assert_only_flagged(results, row)


# --- the stream pieces on their own ----------------------------------------------------------------


def _stream(*deltas: dict[str, Any], finish: str = "tool_calls") -> sse.ParsedStream:
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}, "finish_reason": None}]}]
    chunks += [{"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": None}]} for d in deltas]
    chunks.append({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    return sse.parse("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n")


FIRST = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
REST = ({"index": 0, "function": {"arguments": '{"a"'}}, {"index": 0, "function": {"arguments": ": 1}"}})


def test_tool_call_deltas_check_passes_and_fails() -> None:
    check = sse.FRAMING_CHECKS["tool_call_deltas"][1]
    assert check(_stream(FIRST, *REST)) == ""
    second = {**FIRST, "index": 1, "id": "call_2"}
    assert check(_stream(FIRST, *REST, second, {"index": 1, "function": {"arguments": "{}"}})) == ""
    assert "lacks function.name" in check(_stream({**FIRST, "function": {"arguments": ""}}, *REST))
    assert "lacks id" in check(_stream({k: v for k, v in FIRST.items() if k != "id"}, *REST))
    assert "lacks type" in check(_stream({**FIRST, "type": "tool"}, *REST))
    assert "sends its id or name again" in check(_stream(FIRST, {**REST[0], "id": "call_1"}))
    assert "sends its id or name again" in check(_stream(FIRST, {"index": 0, "function": {"name": "f", "arguments": "{}"}}))
    assert "without an integer index" in check(_stream({k: v for k, v in FIRST.items() if k != "index"}))
    assert "not a string" in check(_stream(FIRST, {"index": 0, "function": {"arguments": {"a": 1}}}))
    assert check(_stream()) == ""  # nothing to frame; the cases check separately that a call was made


def test_streamed_tool_calls_reassemble_like_the_non_streamed_message() -> None:
    second = ({**FIRST, "index": 1, "id": "call_2", "function": {"name": "g", "arguments": ""}}, {"index": 1, "function": {"arguments": "{}"}})
    assembled = sse.assemble_chat(_stream(FIRST, *REST, *second).chunks)
    message = assembled["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    assert assembled["choices"][0]["finish_reason"] == "tool_calls"
    # a fragment lost on the way is visible in the reassembled arguments
    broken = sse.assemble_chat(_stream(FIRST, REST[0]).chunks)
    assert broken["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"a"'
    # no tool calls: no tool_calls key, as in a non-streamed text answer
    assert "tool_calls" not in sse.assemble_chat(_stream(finish="stop").chunks)["choices"][0]["message"]
