"""Structured output on the real server: json_object and json_schema answers, streamed and not, and 400s."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from conformance import openapi
from reference_server.grammar import SchemaError, json_schema_grammar
from reference_server.launcher import RunningServer

ASK = [{"role": "user", "content": "Describe a city in JSON."}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 40}
CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "size": {"enum": ["small", "large"]},
        "districts": {"type": "array", "items": {"$ref": "#/$defs/district"}, "maxItems": 1},
    },
    "required": ["name", "size", "districts"],
    "additionalProperties": False,
    "$defs": {"district": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": False}},
}


@pytest.fixture(scope="module")
def model_id(server: RunningServer) -> str:
    return httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]


def post(server: RunningServer, model_id: str, **params: Any) -> httpx.Response:
    body = {"model": model_id, "messages": ASK, **GREEDY, **params}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)


def schema_format(schema: Any, strict: bool = True, name: str = "city") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": strict, "schema": schema}}


def test_json_object_answer_is_an_object(server: RunningServer, model_id: str) -> None:
    body = post(server, model_id, response_format={"type": "json_object"}).json()
    assert openapi.schema_errors(body, "CreateChatCompletionResponse") == []
    assert body["choices"][0]["finish_reason"] == "stop"
    assert isinstance(json.loads(body["choices"][0]["message"]["content"]), dict)


def test_json_schema_answer_validates_streamed_or_not(server: RunningServer, model_id: str) -> None:
    body = post(server, model_id, response_format=schema_format(CITY)).json()
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert not list(Draft202012Validator(CITY).iter_errors(json.loads(content))), content
    request = {"model": model_id, "messages": ASK, **GREEDY, "response_format": schema_format(CITY), "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=request, timeout=120) as response:
        text = response.read().decode()
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == content


def test_a_non_strict_schema_still_constrains(server: RunningServer, model_id: str) -> None:
    loose = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    body = post(server, model_id, response_format=schema_format(loose, strict=False)).json()
    assert not list(Draft202012Validator(loose).iter_errors(json.loads(body["choices"][0]["message"]["content"])))


@pytest.mark.parametrize(
    ("response_format", "messages", "param", "words"),
    [
        (schema_format({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}), ASK, "response_format", "additionalProperties"),
        (schema_format({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}), ASK, "response_format", "Missing 'a'"),
        (schema_format({"type": "array", "items": {"type": "string"}}, strict=False), ASK, "response_format", 'type: "object"'),
        (schema_format({"type": "object", "properties": {"a": {"type": "frobnicate"}}}, strict=False), ASK, "response_format", "is not valid"),
        (schema_format(CITY, name="a city"), ASK, "response_format.json_schema.name", "pattern"),
        ({"type": "json_schema", "json_schema": {"schema": CITY}}, ASK, "response_format.json_schema.name", "Missing"),
        ({"type": "json_object"}, [{"role": "user", "content": "Describe a city."}], "messages", "json"),
        ({"type": "yaml"}, ASK, "response_format.type", "yaml"),
    ],
)
def test_unusable_formats_are_400_naming_the_field(
    server: RunningServer, model_id: str, response_format: dict, messages: list, param: str, words: str
) -> None:
    response = post(server, model_id, response_format=response_format, messages=messages, max_tokens=1)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error


def test_grammar_errors_name_the_schema_problem() -> None:
    with pytest.raises(SchemaError, match="is not valid"):
        json_schema_grammar({"type": "object", "properties": {"a": {"type": 5}}})
    with pytest.raises(SchemaError, match="cannot be turned into a grammar"):
        json_schema_grammar({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}})
    assert "root ::= output" in json_schema_grammar(CITY).text
