"""Function tools on the real server: forced and free calls, streamed call deltas, history, errors.

The parser and the grammars are tested on their own first (no server; the grammars against the real
model's vocabulary), then end to end through the SDK and on raw SSE bytes.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator
from typing import Any

import httpx
import llama_cpp
import openai
import pytest
from jsonschema import Draft202012Validator

from conformance import openapi
from reference_server.errors import APIError
from reference_server.launcher import RunningServer
from reference_server.model_files import bundled_model_path
from reference_server.prompt import ChatTemplate
from reference_server.sampling import grammar_sampler
from reference_server.schemas import AssistantMessage, ToolMessage, UserMessage
from reference_server.tool_calls import ArgumentsPiece, CallStart, ContentPiece, Piece, ToolCallParser
from reference_server.tools import function_spec, plan_tool_calls, render_tool_calls, tool_prompt

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather in a city", "parameters": CITY, "strict": True}},
    {"type": "function", "function": {"name": "get_time", "description": "Get the local time in a city", "parameters": CITY}},
]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 32}
NAMED = {"type": "function", "function": {"name": "get_time"}}


# --- the parser --------------------------------------------------------------------------------------


def parse(text: str, prefill: str = "", step: int = 1) -> tuple[str, list[list[str]], int]:
    """Content, [[id, name, arguments]...] and the call count, feeding `step` characters at a time."""
    ids = iter(range(100))
    parser = ToolCallParser(prefill, new_id=lambda: f"id{next(ids)}")
    pieces: list[Piece] = list(parser.initial)
    for i in range(0, len(text), step):
        pieces += parser.feed(text[i : i + step])
    pieces += parser.finish()
    calls: list[list[str]] = []
    for p in pieces:
        if isinstance(p, CallStart):
            assert p.index == len(calls)
            calls.append([p.id, p.name, ""])
        elif isinstance(p, ArgumentsPiece):
            calls[p.index][2] += p.text
    return "".join(p.text for p in pieces if isinstance(p, ContentPiece)), calls, parser.calls


@pytest.mark.parametrize(
    ("prefill", "text", "content", "calls"),
    [
        ('<tool_call>\n{"name": "f", "arguments": ', '{"q": "a}\\"{[", "n": [1, {"b": 2}]}}', "", [["id0", "f", '{"q": "a}\\"{[", "n": [1, {"b": 2}]}']]),
        ("", 'Sure.\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call><tool_call>\n{"name":"g","arguments":{"x":1}}\n</tool_call>\n', "Sure.", [["id0", "f", "{}"], ["id1", "g", '{"x":1}']]),
        ("", "  a plain answer ending in <tool", "  a plain answer ending in <tool", []),
        ("", " \n", " \n", []),
        ("", '<tool_call>\n{"name": "f", "argu', '<tool_call>\n{"name": "f", "argu', []),  # never became a call
        ('<tool_call>\n{"name": "', 'g", "arguments": {"x": "ab', "", [["id0", "g", '{"x": "ab']]),  # cut by max_tokens
        ("", '<tool_call>\n{"name": "a\\"b", "arguments": {}}', "", [["id0", 'a"b', "{}"]]),
    ],
)
def test_parser_splits_content_and_calls_however_the_text_is_chunked(prefill: str, text: str, content: str, calls: list) -> None:
    for step in (1, 2, 3, 7, len(text) or 1):
        assert parse(text, prefill, step)[:2] == (content, calls), step


def test_parser_reports_a_named_call_from_the_prefill_alone() -> None:
    parser = ToolCallParser('<tool_call>\n{"name": "get_time", "arguments": ', new_id=lambda: "x")
    assert parser.initial == [CallStart(index=0, id="x", name="get_time")]
    assert parser.calls == 0  # not finished until its arguments are
    assert parser.feed("{}}") == [ArgumentsPiece(index=0, text="{}")] and parser.calls == 1


# --- definitions, prompt and grammars --------------------------------------------------------------


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    llm = llama_cpp.Llama(str(bundled_model_path()), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def allowed_after(llm: Any, grammar: Any, text: str) -> set[int]:
    """Token ids the grammar sampler still allows once `text` (as tokens) has been generated."""
    sampler = grammar_sampler(llm._model.vocab, grammar.text, grammar.triggers)
    assert sampler is not None, grammar.text
    try:
        for token in llm.tokenize(text.encode(), add_bos=False, special=False):
            llama_cpp.llama_sampler_accept(sampler, token)
        n = llm.n_vocab()
        data = (llama_cpp.llama_token_data * n)(*[llama_cpp.llama_token_data(i, 0.0, 0.0) for i in range(n)])
        array = llama_cpp.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return {data[i].id for i in range(array.size) if data[i].logit != float("-inf")}
    finally:
        llama_cpp.llama_sampler_free(sampler)


def token(llm: Any, text: str) -> int:
    (only,) = llm.tokenize(text.encode(), add_bos=False, special=False)
    return int(only)


def specs() -> list[Any]:
    return [function_spec(t["function"]["name"], None, t["function"]["parameters"], None, param="tools") for t in TOOLS]


def test_forced_grammars_allow_only_the_call(vocab: Any) -> None:
    named = plan_tool_calls(specs(), "get_time", parallel=True)
    assert named.prefill.endswith('{"name": "get_time", "arguments": ') and named.forced
    assert token(vocab, "{") in allowed_after(vocab, named.grammar, "")
    assert token(vocab, "Hello") not in allowed_after(vocab, named.grammar, "")
    required = plan_tool_calls(specs(), "required", parallel=False)
    first = allowed_after(vocab, required.grammar, "")
    assert token(vocab, "get") in first and token(vocab, "Hello") not in first


def test_auto_grammar_is_free_until_the_tag_then_holds_the_call(vocab: Any) -> None:
    auto = plan_tool_calls(specs(), "auto", parallel=True)
    assert auto.prefill == "" and not auto.forced and auto.grammar.triggers
    before = allowed_after(vocab, auto.grammar, "Let me check.")
    assert len(before) == vocab.n_vocab()  # nothing constrained yet
    after = allowed_after(vocab, auto.grammar, "Let me check. <tool_call>\n")
    assert token(vocab, "Hello") not in after and len(after) < vocab.n_vocab() // 100
    assert token(vocab, "{") in after or token(vocab, '{"') in after


def test_bad_function_definitions_are_400_naming_the_parameters() -> None:
    for parameters, strict, words in (
        ({"type": "string"}, None, "type: \"object\""),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, True, "additionalProperties"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": [], "additionalProperties": False}, True, "Missing 'a'"),
        ({"type": "object", "properties": {"a": {"type": "frobnicate"}}}, None, "is not valid"),
    ):
        with pytest.raises(APIError) as info:
            function_spec("f", None, parameters, strict, param="tools[0].function")
        assert info.value.param == "tools[0].function.parameters" and words in info.value.message, info.value.message
    assert function_spec("f", None, None, None, param="p").parameters == {"type": "object", "properties": {}}


def test_history_renders_calls_and_results_in_the_convention() -> None:
    template = ChatTemplate({}, bos_token="", eos_token="")  # ChatML
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    messages = [
        UserMessage(role="user", content="Weather?"),
        AssistantMessage(role="assistant", content=None, tool_calls=[call]),
        ToolMessage(role="tool", tool_call_id="call_1", content="Sunny"),
    ]
    prompt = template.render(messages, system_extra=tool_prompt(specs()), prefill="<tool_call>")
    assert prompt.startswith("<|im_start|>system\nYou can call functions")
    assert render_tool_calls([("get_weather", '{"city":"Paris"}')]) in prompt
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert "<|im_start|>tool\nSunny<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n<tool_call>")


# --- end to end ----------------------------------------------------------------------------------


def post(server: RunningServer, model_id: str, **params: Any) -> httpx.Response:
    body = {"model": model_id, "messages": ASK, "tools": TOOLS, **GREEDY, **params}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)


@pytest.fixture(scope="module")
def named(server: RunningServer, model_id: str) -> dict[str, Any]:
    response = post(server, model_id, tool_choice=NAMED)
    assert response.status_code == 200, response.text
    return response.json()


def test_named_choice_calls_that_function_with_valid_arguments(named: dict[str, Any]) -> None:
    assert openapi.schema_errors(named, "CreateChatCompletionResponse") == []
    choice = named["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_time"
    assert call["id"].startswith("call_") and len(call["id"]) == 29
    assert not list(Draft202012Validator(CITY).iter_errors(json.loads(call["function"]["arguments"])))


def test_required_without_parallel_calls_one_declared_function(client: openai.OpenAI, model_id: str) -> None:
    done = client.chat.completions.create(model=model_id, messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False, **GREEDY)  # type: ignore[arg-type]
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name in ("get_weather", "get_time")
    assert not list(Draft202012Validator(CITY).iter_errors(json.loads(call.function.arguments)))


def test_allowed_tools_restrict_the_forced_call(server: RunningServer, model_id: str) -> None:
    only_time = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_time"}}]}}
    body = post(server, model_id, tool_choice=only_time, parallel_tool_calls=False).json()
    assert [c["function"]["name"] for c in body["choices"][0]["message"]["tool_calls"]] == ["get_time"]


def test_each_choice_parses_its_own_calls(server: RunningServer, model_id: str) -> None:
    body = post(server, model_id, tool_choice=NAMED, n=2, temperature=1, seed=5).json()
    for choice in body["choices"]:
        assert choice["finish_reason"] == "tool_calls"
        assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["get_time"]
    ids = [c["message"]["tool_calls"][0]["id"] for c in body["choices"]]
    assert len(set(ids)) == 2


def test_streamed_call_deltas_are_framed_like_openai(server: RunningServer, model_id: str, named: dict[str, Any]) -> None:
    body = {"model": model_id, "messages": ASK, "tools": TOOLS, "tool_choice": NAMED, "stream": True, **GREEDY}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        text = response.read().decode()
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert text.endswith("data: [DONE]\n\n")
    for chunk in chunks:
        assert openapi.schema_errors(chunk, "CreateChatCompletionStreamResponse") == []
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    call = named["choices"][0]["message"]["tool_calls"][0]
    assert {k: calls[0][k] for k in ("index", "type")} == {"index": 0, "type": "function"}
    assert calls[0]["function"] == {"name": "get_time", "arguments": ""} and calls[0]["id"].startswith("call_")
    assert all(set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in calls[1:])
    assert len(calls) > 2  # the arguments arrive in fragments
    assert "".join(c["function"]["arguments"] for c in calls[1:]) == call["function"]["arguments"]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["tool_calls"]


def test_the_sdk_stream_helper_accumulates_the_call(client: openai.OpenAI, model_id: str, named: dict[str, Any]) -> None:
    with client.chat.completions.stream(model=model_id, messages=ASK, tools=TOOLS, tool_choice=NAMED, **GREEDY) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"
    assert call.function.arguments == named["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]


def test_tool_choice_none_answers_in_text(server: RunningServer, model_id: str) -> None:
    body = post(server, model_id, tool_choice="none", max_tokens=8).json()
    message = body["choices"][0]["message"]
    assert "tool_calls" not in message and isinstance(message["content"], str) and message["content"]


def test_a_tool_result_round_trip_gets_an_answer(server: RunningServer, model_id: str, named: dict[str, Any]) -> None:
    call = named["choices"][0]["message"]["tool_calls"][0]
    messages = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "tool_call_id": call["id"], "content": "12:00"}]
    body = post(server, model_id, messages=messages, max_tokens=8).json()
    assert body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice.function.name", "invalid_value"),
        ({"tools": []}, "tools", "empty_array"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name", "invalid_value"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]}, "tools[0].function.parameters", "invalid_function_parameters"),
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {"type": "object", "properties": {"a": {}}}}}]}, "tools[0].function.parameters", "invalid_function_parameters"),
        ({"tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools[0].type", "unsupported_parameter"),
        ({"tools": None, "tool_choice": "required"}, "tool_choice", "invalid_value"),
        ({"tool_choice": "required", "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format", "unsupported_parameter"),
        ({"tool_choice": "required", "ignore_eos": True}, "ignore_eos", "invalid_value"),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "x"}}]}}}, "tool_choice.allowed_tools.tools[0]", "invalid_value"),
        ({"messages": [*ASK, {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}]}]}, "messages[1].tool_calls[0]", "unsupported_parameter"),
    ],
)
def test_bad_tool_requests_are_400_naming_the_field(server: RunningServer, model_id: str, change: dict, param: str, code: str) -> None:
    params = {k: v for k, v in change.items() if v is not None}
    body = {"model": model_id, "messages": ASK, "tools": TOOLS, "max_tokens": 1, **params}
    for key in [k for k, v in change.items() if v is None]:
        body.pop(key)
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error


def test_logprobs_cover_every_token_of_a_call_streamed_or_not(server: RunningServer, model_id: str) -> None:
    whole = post(server, model_id, tool_choice=NAMED, logprobs=True).json()
    entries = whole["choices"][0]["logprobs"]["content"]
    assert len(entries) == whole["usage"]["completion_tokens"]
    body = {"model": model_id, "messages": ASK, "tools": TOOLS, "tool_choice": NAMED, "logprobs": True, "stream": True, **GREEDY}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        text = response.read().decode()
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    streamed = [e for c in chunks for e in ((c["choices"][0].get("logprobs") or {}).get("content") or [])]
    assert [e["token"] for e in streamed] == [e["token"] for e in entries]
