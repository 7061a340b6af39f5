"""The fuzzing overlay: valid requests are a subset of the spec, invalid ones are judged by the spec itself."""

from __future__ import annotations

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conformance.fuzz.overlay import (
    EXTENSION,
    Mode,
    UnknownEndpoint,
    build_spec,
    endpoints,
    load_overlay,
    negative_request_schema,
    relaxed,
    schemas_file,
    select_endpoints,
)
from conformance.openapi import load_spec, schema_errors

MODEL = "served-model"


def _operation(mode: Mode, endpoint: str) -> schemathesis.APIOperation:
    (chosen,) = select_endpoints([endpoint])
    spec = build_spec(mode, MODEL, [chosen])
    schema = schemathesis.openapi.from_dict(
        spec, config=schemathesis.Config.from_dict({"base-url": "http://x/v1"})
    )
    return schema[chosen.path][chosen.method.upper()]


def _request_bodies() -> list[str]:
    return [name for name, entry in load_overlay()["endpoints"].items() if "request" in entry]


@pytest.mark.parametrize("endpoint", _request_bodies())
def test_every_valid_request_is_valid_for_the_spec_and_cheap(endpoint: str) -> None:
    entry = load_overlay()["endpoints"][endpoint]
    upstream = entry["request"]["schema"]
    properties = entry["request"]["positive"]["properties"]
    seen: list[dict] = []

    @settings(max_examples=60, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(_operation(Mode.POSITIVE, endpoint).as_strategy())
    def check(case: schemathesis.Case) -> None:
        body = case.body
        assert schema_errors(body, upstream) == [], body
        assert body["model"] == MODEL
        caps = [k for k in ("max_tokens", "max_completion_tokens", "max_output_tokens") if k in properties]
        if caps:  # it generates text: always capped, and low
            cap = next(body[k] for k in caps if k in body)
            assert isinstance(cap, int | float) and 0 <= cap <= 18, body
        if "stream_options" in body:
            assert body.get("stream") is True, body
        if "top_logprobs" in body:
            assert body.get("logprobs") is True, body
        seen.append(body)

    check()
    if "stream" in properties:
        assert any(b.get("stream") is True for b in seen) and any(not b.get("stream") for b in seen)
    if "messages" in properties:
        assert max(len(b["messages"]) for b in seen) > 1


def test_invalid_requests_are_judged_by_the_spec_schema_cut_to_kept_parameters() -> None:
    spec = load_spec()
    entry = load_overlay()["endpoints"]["chat.completions"]
    schema = negative_request_schema(entry, spec["components"]["schemas"], MODEL)
    assert sorted(schema["properties"]) == sorted(entry["request"]["keep"])
    assert schema["required"] == ["model", "messages"]
    assert schema["properties"]["model"] == {"type": "string", "enum": [MODEL]}
    # Everything else is the spec's own definition, bounds included.
    temperature = schema["properties"]["temperature"]
    assert {"type": "number", "minimum": 0, "maximum": 2}.items() <= temperature["anyOf"][0].items()
    assert (
        schema["properties"]["messages"]["items"]
        == spec["components"]["schemas"]["CreateChatCompletionRequest"]["allOf"][1]["properties"]["messages"][
            "items"
        ]
    )


def test_overlay_keep_must_name_spec_parameters() -> None:
    entry = {"request": {"schema": "CreateChatCompletionRequest", "keep": ["model", "no_such_parameter"]}}
    with pytest.raises(ValueError, match="no_such_parameter"):
        negative_request_schema(entry, load_spec()["components"]["schemas"], MODEL)


@pytest.mark.parametrize("mode", list(Mode))
def test_built_documents_hold_only_fuzzed_operations_with_error_envelopes(mode: Mode) -> None:
    spec = build_spec(mode, MODEL)
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert operations == {(e.path, e.method) for e in endpoints()}
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert operation[EXTENSION]["mode"] == mode.value
            assert operation["security"] == []  # no key: the server under test is open
            for status in load_overlay()["error_statuses"]:
                body = operation["responses"][str(status)]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorResponse"}, path
    assert "security" not in spec
    chat = spec["paths"]["/chat/completions"]["post"][EXTENSION]
    assert chat["invalid_request_cap"] == {"max_completion_tokens": 8}
    assert chat["cap_keys"] == ["max_tokens", "max_completion_tokens"]
    retrieve = spec["paths"]["/models/{model}"]["get"]["parameters"][0]
    assert retrieve["schema"] == {"type": "string", "enum": [MODEL]}


def test_a_key_keeps_the_spec_security_requirement() -> None:
    spec = build_spec(Mode.POSITIVE, MODEL, with_auth=True)
    assert spec["paths"]["/models"]["get"]["security"] == [{"ApiKeyAuth": []}]


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("chat.completions", "chat.completions"),
        ("/v1/chat/completions", "chat.completions"),
        ("/chat/completions", "chat.completions"),
        ("GET /models/{model}", "models.retrieve"),
        ("/v1/models", "models.list"),
    ],
)
def test_endpoints_are_selected_by_name_or_path(selector: str, name: str) -> None:
    assert [e.name for e in select_endpoints([selector])] == [name]


def test_unknown_endpoint_names_the_known_ones() -> None:
    with pytest.raises(UnknownEndpoint, match=r"'/v1/nope'.*chat\.completions"):
        select_endpoints(["/v1/nope"])


def test_derived_schemas_widen_only_the_documented_gaps() -> None:
    path = schemas_file()
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": "a", "finish_reason": None, "logprobs": None}],
        "usage": None,
    }
    assert schema_errors(chunk, "FuzzCompletionChunk", path) == []
    assert schema_errors(chunk, "CreateCompletionResponse", path)  # the spec itself refuses it
    assert schema_errors(chunk, "FuzzCompletionResponse", path)  # a final answer needs its reason
    wrong = {**chunk, "choices": [{**chunk["choices"][0], "finish_reason": 3}]}
    assert schema_errors(wrong, "FuzzCompletionChunk", path)  # widened, not opened
    echo = {**chunk, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    echo["choices"] = [
        {
            "index": 0,
            "text": "a",
            "finish_reason": "length",
            "logprobs": {
                "tokens": ["a"],
                "token_logprobs": [None],
                "top_logprobs": [None],
                "text_offset": [0],
            },
        }
    ]
    assert schema_errors(echo, "FuzzCompletionResponse", path) == []
    vectors = {
        "object": "list",
        "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": "AACAPw=="}],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    assert schema_errors(vectors, "FuzzEmbeddingResponseBase64", path) == []
    assert schema_errors(vectors, "CreateEmbeddingResponse", path)


def test_request_gaps_relax_requests_only() -> None:
    """An output message sent back as input, as the openai SDK types it (no logprobs): valid in the
    invalid-request document, while answers are still judged by the spec as published."""
    spec = build_spec(Mode.NEGATIVE, MODEL, select_endpoints(["responses"]))
    assert "logprobs" not in spec["components"]["schemas"]["OutputTextContent"]["required"]
    assert "logprobs" in load_spec()["components"]["schemas"]["OutputTextContent"]["required"]
    part = {"type": "output_text", "text": "", "annotations": []}
    validator = jsonschema.Draft202012Validator(
        {**spec["components"]["schemas"]["OutputTextContent"], "components": spec["components"]}
    )
    assert validator.is_valid(part)
    strict = jsonschema.Draft202012Validator(
        {**load_spec()["components"]["schemas"]["OutputTextContent"], "components": load_spec()["components"]}
    )
    assert not strict.is_valid(part)


def test_request_gaps_must_name_required_fields() -> None:
    with pytest.raises(ValueError, match="no_such_field"):
        relaxed({"type": "object", "required": ["a"]}, ["no_such_field"])
