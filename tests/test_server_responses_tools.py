"""/v1/responses function calling and text.format on the real model: function_call items (whole and
streamed), the call replayed through previous_response_id, JSON output by grammar, and the 400s."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from conformance import openapi
from reference_server.launcher import RunningServer

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "name": "get_weather", "description": "Get the weather in a city", "parameters": PARAMETERS, "strict": True}
TIME = {"type": "function", "name": "get_time", "description": "Get the local time in a city", "parameters": PARAMETERS, "strict": True}
ASK: dict[str, Any] = {"input": "What is the weather in Paris?", "tools": [WEATHER, TIME], "temperature": 0, "max_output_tokens": 32}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "is_capital": {"type": "boolean"}},
    "required": ["name", "is_capital"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(strict_client: openai.OpenAI) -> openai.OpenAI:
    """Responses answers are checked against the SDK's types on every call."""
    return strict_client


def post(server: RunningServer, model_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/responses", json={"model": model_id, **body}, timeout=120)


def create(server: RunningServer, model_id: str, **body: Any) -> dict[str, Any]:
    answer = post(server, model_id, **body)
    assert answer.status_code == 200, answer.text
    assert openapi.schema_errors(answer.json(), "Response") == []
    return answer.json()


def text_of(response: dict[str, Any]) -> str:
    return "".join(p["text"] for item in response["output"] if item["type"] == "message" for p in item["content"])


def test_named_call_is_a_function_call_item(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    answer = create(server, model_id, **ASK, tool_choice={"type": "function", "name": "get_time"})
    assert answer["status"] == "completed"
    calls = answer["output"]
    assert calls and all(c["type"] == "function_call" and c["name"] == "get_time" for c in calls)
    first = calls[0]
    assert first["id"].startswith("fc_") and first["call_id"].startswith("call_") and first["status"] == "completed"
    jsonschema.validate(json.loads(first["arguments"]), PARAMETERS)
    assert [t["name"] for t in answer["tools"]] == ["get_weather", "get_time"]
    assert answer["tool_choice"] == {"type": "function", "name": "get_time"}
    parsed = client.responses.create(model=model_id, **ASK, tool_choice="required", parallel_tool_calls=False)
    assert len(parsed.output) == 1 and parsed.output[0].type == "function_call"


def test_tool_choice_none_and_auto_answer_in_text(server: RunningServer, model_id: str) -> None:
    none = create(server, model_id, **ASK, tool_choice="none")
    assert {i["type"] for i in none["output"]} == {"message"} and text_of(none)
    plain = create(server, model_id, input=ASK["input"], temperature=0, max_output_tokens=32)
    assert text_of(none) != text_of(plain), "the function definitions are in the prompt even when none may be called"


def test_streamed_call_events(server: RunningServer, model_id: str) -> None:
    whole = create(server, model_id, **ASK, tool_choice={"type": "function", "name": "get_time"})
    body = {"model": model_id, **ASK, "tool_choice": {"type": "function", "name": "get_time"}, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/responses", json=body, timeout=120) as r:
        text = r.read().decode()
    events = [json.loads(block.split("\n")[1].removeprefix("data: ")) for block in text.strip().split("\n\n")]
    for event in events:
        assert openapi.schema_errors(event, "ResponseStreamEvent") == [], event["type"]
    types = [e["type"] for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed" and "response.output_text.delta" not in types
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert deltas == done["arguments"] == whole["output"][0]["arguments"]
    assert done["name"] == "get_time"
    final = events[-1]["response"]
    assert [(o["name"], o["arguments"]) for o in final["output"]] == [(o["name"], o["arguments"]) for o in whole["output"]]


def test_function_call_output_continues_the_stored_call(server: RunningServer, model_id: str) -> None:
    called = create(server, model_id, **ASK, tool_choice="required", parallel_tool_calls=False)
    call = called["output"][0]
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 25 degrees Celsius."}
    follow = create(server, model_id, **{**ASK, "max_output_tokens": 16, "input": [result]}, previous_response_id=called["id"])
    replay = {"type": "function_call", "call_id": call["call_id"], "name": call["name"], "arguments": call["arguments"]}
    explicit = create(server, model_id, **{**ASK, "max_output_tokens": 16, "input": [{"role": "user", "content": ASK["input"]}, replay, result]})
    assert [o["type"] for o in follow["output"]] == [o["type"] for o in explicit["output"]]
    assert text_of(follow) == text_of(explicit)


def test_text_format_json(server: RunningServer, model_id: str) -> None:
    ask = {"input": "Describe a city in JSON.", "temperature": 0, "max_output_tokens": 32}
    as_object = create(server, model_id, **ask, text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(text_of(as_object)), dict)
    fmt = {"type": "json_schema", "name": "city", "strict": True, "schema": CITY}
    city = create(server, model_id, **ask, text={"format": fmt})
    jsonschema.validate(json.loads(text_of(city)), CITY)
    assert city["text"]["format"] == fmt


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({**ASK, "tools": [{"type": "web_search"}]}, "tools[0].type", "unsupported_parameter"),
        ({**ASK, "tools": [{"type": "function", "name": "bad name", "parameters": PARAMETERS, "strict": True}]}, "tools[0].name", None),
        ({**ASK, "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name", "invalid_value"),
        ({**ASK, "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"input": "Hi", "tool_choice": "required"}, "tool_choice", "invalid_value"),
        ({**ASK, "tools": [{**WEATHER, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}, "tools[0].parameters", "invalid_function_parameters"),
        ({"input": "Describe a city.", "text": {"format": {"type": "json_object"}}}, "input", None),
        ({"input": "Describe a city.", "text": {"format": {"type": "json_schema", "name": "c", "schema": {"type": "array"}}}}, "text.format.schema", None),
        ({**ASK, "input": "The weather in Paris, as JSON?", "tool_choice": "required", "text": {"format": {"type": "json_object"}}}, "text.format", "unsupported_parameter"),
    ],
)  # fmt: skip
def test_bad_tool_and_format_requests(
    server: RunningServer, model_id: str, body: dict[str, Any], param: str, code: str | None
) -> None:
    answer = post(server, model_id, **body)
    assert answer.status_code == 400, answer.text
    assert openapi.schema_errors(answer.json(), "ErrorResponse") == []
    assert answer.json()["error"]["param"] == param, answer.json()
    if code is not None:
        assert answer.json()["error"]["code"] == code
