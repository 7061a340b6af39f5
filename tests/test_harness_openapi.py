"""The spec validator: real schemas from the vendored spec accept valid shapes and reject broken ones."""

from __future__ import annotations

import copy

import pytest

from conformance import openapi

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}],
    "usage": None,  # only valid because `nullable: true` is normalised on load
}


def test_valid_shapes_pass_with_extra_fields() -> None:
    body = copy.deepcopy(COMPLETION) | {"system_fingerprint": "fp", "x_vendor": {"anything": 1}}
    assert openapi.schema_errors(body, "CreateChatCompletionResponse") == []
    assert openapi.schema_errors(CHUNK, "CreateChatCompletionStreamResponse") == []
    assert openapi.schema_errors({"error": {"message": "m", "type": "t", "param": None, "code": None}}, "ErrorResponse") == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b.pop("model"), "'model' is a required property"),
        (lambda b: b["choices"][0].update(finish_reason="done"), "choices[0].finish_reason"),
        (lambda b: b["choices"][0].update(index="0"), "choices[0].index: '0' is not of type 'integer'"),
        (lambda b: b["usage"].pop("total_tokens"), "usage: 'total_tokens' is a required property"),
    ],
)
def test_violations_are_reported_with_their_path(mutate, expected: str) -> None:
    body = copy.deepcopy(COMPLETION)
    mutate(body)
    errors = openapi.schema_errors(body, "CreateChatCompletionResponse")
    assert any(expected in e for e in errors), errors
    with pytest.raises(openapi.SchemaViolation):
        openapi.validate(body, "CreateChatCompletionResponse")


def test_unknown_schema_name() -> None:
    with pytest.raises(openapi.SchemaNotFound):
        openapi.schema_errors({}, "NoSuchSchema")
