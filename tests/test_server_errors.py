"""Bad input of every kind gets OpenAI's error envelope with the right status, never a 500 or `{"detail"}`.

Range limits are read from the vendored OpenAPI spec, so the server's own table cannot drift from it
unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from conformance import openapi
from reference_server.launcher import RunningServer

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def model_id(server: RunningServer) -> str:
    return httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]


def post(server: RunningServer, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, bytes | str):
        return httpx.post(f"{server.base_url}/chat/completions", content=body, timeout=60, **kwargs)
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60, **kwargs)


def assert_error(response: httpx.Response, status: int, *, param: Any = ..., code: Any = ...) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert "detail" not in body
    assert openapi.schema_errors(body, "ErrorResponse") == []
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not ...:
        assert error["param"] == param, error
    if code is not ...:
        assert error["code"] == code, error
    return error


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{bad", b"", b"\xff\xfe", b'{"model": "m", "messages": [], "temperature": NaN}'])
def test_malformed_json_is_400(server: RunningServer, raw: bytes) -> None:
    assert_error(post(server, raw, headers={"content-type": "application/json"}), 400, param=None)


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"3", b"null"])
def test_non_object_body_is_400(server: RunningServer, raw: bytes) -> None:
    assert_error(post(server, raw), 400, param=None)


def test_json_is_read_whatever_the_content_type(server: RunningServer, model_id: str) -> None:
    raw = f'{{"model": "{model_id}", "messages": [{{"role": "user", "content": "hi"}}], "max_tokens": 1}}'
    assert post(server, raw, headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 200


# --- wrong or missing fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"model": None}, "model", "invalid_type"),
        ({"messages": None}, "messages", "invalid_type"),
        ({"messages": "hi"}, "messages", "invalid_type"),
        ({"messages": []}, "messages", "empty_array"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": "hi", "mood": "happy"}]}, "messages[0].mood", "unknown_parameter"),
        ({"messages": [{"role": "tool", "content": "4"}]}, "messages[0].tool_call_id", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages[0].content[0].text", "invalid_type"),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({"stop": 5}, "stop", "invalid_type"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_completion_tokens": -1}, "max_completion_tokens", "integer_below_min_value"),
        ({"seed": 2**63}, "seed", "integer_above_max_value"),
        ({"logit_bias": {"1": 101}}, "logit_bias.1", "decimal_above_max_value"),
        ({"logit_bias": {"one": 5}}, "logit_bias", "invalid_value"),
        ({"logit_bias": {"99999999": 5}}, "logit_bias", "invalid_value"),
        ({"top_logprobs": 3}, "top_logprobs", "invalid_value"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"stream_options": {"include_usage": "yes please"}}, "stream_options.include_usage", "invalid_type"),
        ({"frobnicate": True}, "frobnicate", "unknown_parameter"),
        ({"tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools[0].type", "unsupported_parameter"),
        ({"response_format": {"type": "json_object"}}, "messages", None),  # no "json" in the messages
        ({"response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]},
            "messages[0].content[0]",
            "unsupported_content_type",
        ),
    ],
)
def test_bad_field_is_400_naming_it(server: RunningServer, model_id: str, change: dict, param: str, code: str) -> None:
    body = {"model": model_id, "messages": HI, "max_tokens": 1, **change}
    assert_error(post(server, body), 400, param=param, code=code)


# Numbers and booleans spelled as strings: pydantic's lax mode would coerce them, OpenAI refuses them.
SPELLED_AS_STRINGS = [
    ("chat/completions", {"messages": HI}, {"temperature": "0.5"}, "temperature"),
    ("chat/completions", {"messages": HI}, {"stream": "true"}, "stream"),
    ("chat/completions", {"messages": HI}, {"max_tokens": "5"}, "max_tokens"),
    ("chat/completions", {"messages": HI}, {"n": "2"}, "n"),
    ("chat/completions", {"messages": HI}, {"temperature": True}, "temperature"),
    ("chat/completions", {"messages": HI}, {"max_tokens": 5.5}, "max_tokens"),
    ("chat/completions", {"messages": HI, "stream": True}, {"stream_options": {"include_usage": "1"}}, "stream_options.include_usage"),
    ("completions", {"prompt": "hi"}, {"echo": "false"}, "echo"),
    ("completions", {"prompt": "hi"}, {"top_p": "1"}, "top_p"),
    ("embeddings", {"input": "hi"}, {"dimensions": "8"}, "dimensions"),
    ("responses", {"input": "hi"}, {"max_output_tokens": "20"}, "max_output_tokens"),
    ("responses", {"input": "hi"}, {"store": "false"}, "store"),
]


@pytest.mark.parametrize(("path", "base", "change", "param"), SPELLED_AS_STRINGS)
def test_scalars_of_the_wrong_json_type_are_400_invalid_type(
    server: RunningServer, model_id: str, path: str, base: dict, change: dict, param: str
) -> None:
    body = {"model": model_id, **base, **change}
    response = httpx.post(f"{server.base_url}/{path}", json=body, timeout=60)
    assert_error(response, 400, param=param, code="invalid_type")


def test_an_integer_is_still_a_number(server: RunningServer, model_id: str) -> None:
    """Strict typing must not refuse `1` where the API takes a decimal, as OpenAI does not."""
    body = {"model": model_id, "messages": HI, "max_tokens": 1, "temperature": 1, "top_p": 1, "presence_penalty": 0}
    assert post(server, body).status_code == 200


def test_missing_required_fields(server: RunningServer, model_id: str) -> None:
    assert_error(post(server, {"messages": HI}), 400, param="model", code="missing_required_parameter")
    assert_error(post(server, {"model": model_id}), 400, param="messages", code="missing_required_parameter")


def _numeric_bounds() -> dict[str, tuple[float | None, float | None]]:
    """min/max of every numeric request field of CreateChatCompletionRequest, straight from the spec."""
    spec = openapi.load_spec()
    schemas = spec["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def parts(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        node = resolve(node)
        yield node
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, []):
                yield from parts(sub)

    bounds: dict[str, tuple[float | None, float | None]] = {}
    for part in parts(schemas["CreateChatCompletionRequest"]):
        for name, prop in part.get("properties", {}).items():
            for option in parts(prop):
                if option.get("type") in ("number", "integer") and ("minimum" in option or "maximum" in option):
                    bounds[name] = (option.get("minimum"), option.get("maximum"))
    # The spec writes the int64 limits of `seed` as rounded floats (±9223372036854776000), which lie
    # outside int64 itself; the exact limits are tested above.
    bounds.pop("seed", None)
    return bounds


BOUNDS = _numeric_bounds()


def test_the_spec_bounds_cover_the_documented_ranges() -> None:
    for name in ("temperature", "top_p", "n", "top_logprobs", "presence_penalty", "frequency_penalty"):
        assert name in BOUNDS, name


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_spec_ranges_are_enforced_exactly(server: RunningServer, model_id: str, name: str) -> None:
    low, high = BOUNDS[name]
    base: dict[str, Any] = {"model": model_id, "messages": HI, "max_tokens": 1, "logprobs": True}
    step = 1 if name in ("n", "top_logprobs") else 0.01
    for bound, outside in ((low, -step), (high, step)):
        if bound is None:
            continue
        error = assert_error(post(server, {**base, name: bound + outside}), 400, param=name)
        assert error["code"].endswith(("_below_min_value", "_above_max_value"))
        if not (name == "n" and bound == high):  # 128 one-token choices: accepted, but slow for a unit test
            assert post(server, {**base, name: bound}).status_code == 200, (name, bound)


# --- the model and its context -------------------------------------------------------------------


def test_unknown_model_is_404(server: RunningServer) -> None:
    assert_error(post(server, {"model": "gpt-nope", "messages": HI}), 404, code="model_not_found")
    assert_error(httpx.get(f"{server.base_url}/models/gpt-nope"), 404, param="model", code="model_not_found")


def test_prompt_longer_than_context_is_400_context_length_exceeded(server: RunningServer, model_id: str) -> None:
    long = [{"role": "user", "content": "word " * 9000}]
    error = assert_error(post(server, {"model": model_id, "messages": long}), 400, code="context_length_exceeded")
    assert error["param"] == "messages"
    assert_error(
        post(server, {"model": model_id, "messages": HI, "max_tokens": 10**6}), 400, code="context_length_exceeded"
    )


def test_sdk_raises_typed_errors(server: RunningServer, model_id: str) -> None:
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=model_id, messages=HI, temperature=5)
        assert info.value.param == "temperature"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-nope", messages=HI)


# --- routes and methods --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nope", 404),
        ("POST", "/v1/chat/completion", 404),
        ("GET", "/", 404),
        ("GET", "/docs", 404),
        ("GET", "/v1/chat/completions", 405),
        ("PUT", "/v1/models", 405),
        ("DELETE", "/v1/models/x", 405),
    ],
)
def test_unknown_routes_and_wrong_methods(server: RunningServer, method: str, path: str, status: int) -> None:
    url = server.base_url.removesuffix("/v1") + path
    assert_error(httpx.request(method, url, timeout=10), status, param=None)


# --- API key -------------------------------------------------------------------------------------


ROUTES = [("GET", "/models"), ("GET", "/models/anything"), ("POST", "/chat/completions"), ("GET", "/nope"), ("GET", "/chat/completions")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_key_is_required_on_every_route(keyed_server: RunningServer, method: str, path: str) -> None:
    url = keyed_server.base_url + path
    key = keyed_server.api_key
    body = {"model": "x", "messages": HI} if method == "POST" else None
    assert_error(httpx.request(method, url, json=body, timeout=10), 401, code=None)
    for header in ("Bearer wrong-key", f"Basic {key}", "Bearer"):
        error = assert_error(
            httpx.request(method, url, json=body, headers={"Authorization": header}, timeout=10), 401,
            code="invalid_api_key",
        )
        assert str(key) not in error["message"]
    ok = httpx.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert ok.status_code != 401


def test_sdk_with_and_without_the_key(keyed_server: RunningServer) -> None:
    with openai.OpenAI(base_url=keyed_server.base_url, api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            client.models.list()
        assert info.value.code == "invalid_api_key"
    with openai.OpenAI(base_url=keyed_server.base_url, api_key=keyed_server.api_key, max_retries=0) as client:
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(model=model, messages=HI, max_tokens=2, temperature=0)
        assert reply.usage.completion_tokens <= 2
