"""Explicit `null` is accepted exactly where OpenAI's spec allows it, in every request model.

The spec tells "may be left out" (not in `required`) apart from "may be null" (`type: null` in an
`anyOf`, or a leftover 3.0 `nullable: true`, which conformance.openapi normalises). The request
models are walked field by field next to the spec's schemas, down through nested models (messages,
content parts, stream options, ...), so a field that drifts from the spec fails here by name; the
server tests then send `null` for every top-level parameter the spec does not let be null.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel

from conformance import openapi
from reference_server.completion_request import CompletionRequest
from reference_server.embeddings_request import EmbeddingRequest
from reference_server.launcher import RunningServer
from reference_server.request_model import Nullable, RequestModel, accepts_null
from reference_server.responses.request import CreateResponseRequest
from reference_server.schemas import ChatCompletionRequest

_REF = "#/components/schemas/"

# Each endpoint's body model, the spec schema it implements, and a minimal valid body to add a null to.
ENDPOINTS: dict[str, tuple[type[RequestModel], str, str, dict[str, Any]]] = {
    "chat": (ChatCompletionRequest, "CreateChatCompletionRequest", "/chat/completions",
             {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}),
    "completions": (CompletionRequest, "CreateCompletionRequest", "/completions", {"prompt": "Hi", "max_tokens": 1}),
    "embeddings": (EmbeddingRequest, "CreateEmbeddingRequest", "/embeddings", {"input": "Hi"}),
    "responses": (CreateResponseRequest, "CreateResponse", "/responses", {"input": "Hi", "max_output_tokens": 16}),
}


# --- the spec side --------------------------------------------------------------------------------


def _components() -> dict[str, Any]:
    return openapi.load_spec()["components"]["schemas"]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = _components()[node["$ref"].removeprefix(_REF)]
    return node


def spec_nullable(node: dict[str, Any]) -> bool:
    node = _resolve(node)
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(spec_nullable(option) for key in ("anyOf", "oneOf") for option in node.get(key, []))


def spec_objects(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object schemas a value of `node` (or an item of it, if it is an array) can be."""
    node = _resolve(node)
    if "allOf" in node:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for flat in (flat for part in node["allOf"] for flat in spec_objects(part)):
            properties.update(flat.get("properties", {}))
            required.extend(flat.get("required", []))
        yield {"properties": properties, "required": required}
        return
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            yield from spec_objects(option)
    if "items" in node:
        yield from spec_objects(node["items"])
    if "properties" in node:
        yield node


# --- the model side -------------------------------------------------------------------------------


def sub_models(annotation: Any) -> Iterator[type[RequestModel]]:
    """Request models a field's value (or its items) can be, through Annotated, unions and lists."""
    if isinstance(annotation, type) and issubclass(annotation, RequestModel):
        yield annotation
        return
    if typing.get_origin(annotation) is dict:
        return  # maps of free-form values (metadata, logit_bias): no nested models
    for arg in typing.get_args(annotation):
        if not isinstance(arg, str | int | bool | types.NoneType):  # Literal values are not types
            yield from sub_models(arg)


def _literals(model: type[BaseModel]) -> dict[str, set[Any]]:
    """Fields pinned to constants (`type: "text"`, `role: "user"`): how a union member is recognised."""
    out: dict[str, set[Any]] = {}
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal:
            out[field.alias or name] = set(typing.get_args(field.annotation))
    return out


def matching_objects(model: type[BaseModel], candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spec objects `model` implements: those its constants agree with and it shares properties with.

    One model may stand for several spec objects (the Responses "easy", input and output messages are
    one MessageItem); it must then accept null wherever any of them does.
    """
    pinned = _literals(model)
    names = {field.alias or name for name, field in model.model_fields.items()}

    def constants(prop: dict[str, Any]) -> set[Any]:
        prop = _resolve(prop)
        return set(prop.get("enum", [prop.get("const")]))

    def agrees(obj: dict[str, Any]) -> bool:
        props = obj.get("properties", {})
        shared = names & set(props)
        return bool(shared) and all(key in props and values & constants(props[key]) for key, values in pinned.items())

    return [obj for obj in candidates if agrees(obj)]


def nullability_mismatches(model: type[RequestModel], schemas: list[dict[str, Any]], where: str) -> Iterator[str]:
    """Fields whose nullability differs from the spec's, and nested models with no spec object."""
    seen: set[tuple[type[BaseModel], tuple[int, ...]]] = set()

    def walk(model: type[RequestModel], schemas: list[dict[str, Any]], where: str) -> Iterator[str]:
        if (model, tuple(id(s) for s in schemas)) in seen:
            return
        seen.add((model, tuple(id(s) for s in schemas)))
        for name, field in model.model_fields.items():
            key = field.alias or name
            declared = [s["properties"][key] for s in schemas if key in s.get("properties", {})]
            if not declared:
                continue  # an extension the spec does not have (vLLM's sampling parameters)
            optional_in_spec = any(key not in s.get("required", []) for s in schemas)
            stricter = field.is_required() and optional_in_spec  # the server needs it: null is as missing
            spec_null, model_null = any(spec_nullable(d) for d in declared), accepts_null(model, name)
            if spec_null != model_null and not stricter:
                yield f"{where}.{key}: spec {'allows' if spec_null else 'forbids'} null, the model does not agree"
            candidates = [obj for d in declared for obj in spec_objects(d)]
            for sub in sub_models(field.annotation):
                objects = matching_objects(sub, candidates)
                if not objects:
                    yield f"{where}.{key}: no object in the spec matches {sub.__name__}"
                else:
                    yield from walk(sub, objects, f"{where}.{key}<{sub.__name__}>")

    return walk(model, schemas, where)


def spec_request(schema: str) -> list[dict[str, Any]]:
    return list(spec_objects({"$ref": _REF + schema}))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_models_accept_null_exactly_where_the_spec_does(endpoint: str) -> None:
    model, schema, _, _ = ENDPOINTS[endpoint]
    assert list(nullability_mismatches(model, spec_request(schema), schema)) == []


def test_the_comparison_reaches_nested_models_and_fails_on_a_drift() -> None:
    """The walk above must be able to fail, also deep down (a chat message's `name`)."""

    class Named(RequestModel):
        role: Literal["user"]
        content: str
        name: Nullable[str] = None  # the spec has no null here

    class Drifted(RequestModel):
        model: str
        user: Nullable[str] = None  # nor here
        messages: list[Named]
        temperature: float | None = None  # but here it has

    found = list(nullability_mismatches(Drifted, spec_request("CreateChatCompletionRequest"), "chat"))
    assert sorted(found) == [
        "chat.messages<Named>.name: spec forbids null, the model does not agree",
        "chat.temperature: spec allows null, the model does not agree",
        "chat.user: spec forbids null, the model does not agree",
    ]


# --- the real server ------------------------------------------------------------------------------


def _top_level(endpoint: str) -> Iterator[tuple[str, bool]]:
    """(parameter, spec allows null) for the endpoint's parameters the server implements."""
    model, schema, _, _ = ENDPOINTS[endpoint]
    keys = {field.alias or name for name, field in model.model_fields.items()}
    for obj in spec_request(schema):
        for key, prop in obj["properties"].items():
            if key in keys:
                yield key, spec_nullable(prop)


def _post(server: RunningServer, model_id: str, endpoint: str, extra: dict[str, Any]) -> httpx.Response:
    _, _, path, base = ENDPOINTS[endpoint]
    return httpx.post(f"{server.base_url}{path}", json={"model": model_id, **base, **extra}, timeout=120)


NON_NULLABLE = [(endpoint, key) for endpoint in ENDPOINTS for key, nullable in _top_level(endpoint) if not nullable]


@pytest.mark.parametrize(("endpoint", "key"), NON_NULLABLE, ids=[f"{e}:{k}" for e, k in NON_NULLABLE])
def test_null_where_the_spec_has_none_is_a_400_naming_the_parameter(
    server: RunningServer, model_id: str, endpoint: str, key: str
) -> None:
    response = _post(server, model_id, endpoint, {key: None})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (key, "invalid_type", "invalid_request_error"), error


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_null_where_the_spec_allows_it_means_the_default(server: RunningServer, model_id: str, endpoint: str) -> None:
    """Every nullable parameter at once (the token cap of the base body excepted) is an ordinary request."""
    _, _, _, base = ENDPOINTS[endpoint]
    nulls = {key: None for key, nullable in _top_level(endpoint) if nullable and key not in base}
    assert nulls or endpoint == "embeddings"
    response = _post(server, model_id, endpoint, nulls)
    assert response.status_code == 200, response.text


NESTED = [
    ("chat", {"messages": [{"role": "user", "content": "Hi", "name": None}]}, "messages[0].name", "invalid_type"),
    ("chat", {"stream": True, "stream_options": {"include_usage": None}}, "stream_options.include_usage", "invalid_type"),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "prompt_cache_breakpoint": 0}]}]},
     "messages[0].content[0].prompt_cache_breakpoint", "invalid_type"),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "prompt_cache_breakpoint": {}}]}]},
     "messages[0].content[0].prompt_cache_breakpoint.mode", "missing_required_parameter"),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "prompt_cache_breakpoint": None}]}]},
     "messages[0].content[0].prompt_cache_breakpoint", "invalid_type"),
    ("responses", {"input": [{"type": "message", "role": "user", "content": "Hi", "status": None}]}, "input[0].status", "invalid_type"),
]


@pytest.mark.parametrize(("endpoint", "extra", "param", "code"), NESTED, ids=[p for _, _, p, _ in NESTED])
def test_nested_nulls_and_cache_breakpoints_are_checked(
    server: RunningServer, model_id: str, endpoint: str, extra: dict[str, Any], param: str, code: str
) -> None:
    response = _post(server, model_id, endpoint, extra)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error


def test_a_valid_cache_breakpoint_is_accepted(server: RunningServer, model_id: str) -> None:
    part = {"type": "text", "text": "Hi", "prompt_cache_breakpoint": {"mode": "explicit"}}
    response = _post(server, model_id, "chat", {"messages": [{"role": "user", "content": [part]}]})
    assert response.status_code == 200, response.text
