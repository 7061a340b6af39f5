"""POST /v1/embeddings on the real bundled model: shapes, encodings, dimensions, token ids and errors.

Every expectation is relative to the server's own answers (the same text alone, the float encoding,
the full-length vector) or to the model's own tokenizer, never to what the numbers happen to be.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import llama_cpp
import numpy as np
import openai
import pytest

from conformance import openapi
from reference_server.embedding_engine import pooling_type
from reference_server.embeddings_output import base64_floats, float_list, shorten
from reference_server.launcher import RunningServer
from reference_server.model_files import bundled_model_path

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Quarterly revenue rose by four percent.", "def main(): return 0"]


@pytest.fixture(scope="module")
def vocab() -> Iterator[llama_cpp.Llama]:
    """The model's own tokenizer, to send the token ids of a text."""
    llm = llama_cpp.Llama(model_path=str(bundled_model_path()), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/embeddings", json=body, timeout=120)


def vectors(response: httpx.Response) -> list[np.ndarray]:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return [np.asarray(d["embedding"], dtype=np.float32) for d in data]


def embed(server: RunningServer, model_id: str, input: Any, **params: Any) -> list[np.ndarray]:
    return vectors(post(server, {"model": model_id, "input": input, "encoding_format": "float", **params}))


@pytest.fixture(scope="module")
def alone(server: RunningServer, model_id: str) -> list[np.ndarray]:
    return [embed(server, model_id, text)[0] for text in TEXTS]


# --- the answer ----------------------------------------------------------------------------------


def test_answer_validates_against_the_spec_and_the_sdk(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    raw = post(server, {"model": model_id, "input": TEXTS[0], "encoding_format": "float"})
    body = raw.json()
    assert openapi.schema_errors(body, "CreateEmbeddingResponse") == []
    assert body["object"] == "list" and body["model"] == model_id
    assert body["data"][0]["object"] == "embedding" and body["data"][0]["index"] == 0
    strict = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, _strict_response_validation=True)
    with strict:
        parsed = strict.embeddings.create(model=model_id, input=TEXTS[0], encoding_format="float")
    assert parsed.data[0].embedding == body["data"][0]["embedding"]


def test_vectors_are_unit_length_with_the_models_dimension(alone: list[np.ndarray]) -> None:
    assert {len(v) for v in alone} == {576}  # SmolLM2-135M's hidden size
    for v in alone:
        assert abs(float(np.linalg.norm(v)) - 1) < 1e-5
    assert float(alone[0] @ alone[1]) < 0.99, "different texts must get different vectors"


def test_a_list_is_answered_in_order_with_the_vectors_of_each_text_alone(
    server: RunningServer, model_id: str, alone: list[np.ndarray]
) -> None:
    listed = embed(server, model_id, TEXTS)
    assert len(listed) == 3
    for one, reference in zip(listed, alone, strict=True):
        assert np.array_equal(one, reference)  # one decode per input: no batch effects at all
    reordered = embed(server, model_id, TEXTS[::-1])
    assert np.array_equal(reordered[0], alone[2])


def test_token_ids_mean_the_same_as_their_text(
    server: RunningServer, model_id: str, vocab: llama_cpp.Llama, alone: list[np.ndarray]
) -> None:
    ids = [vocab.tokenize(t.encode(), add_bos=True, special=False) for t in TEXTS[:2]]
    single = post(server, {"model": model_id, "input": ids[0], "encoding_format": "float"})
    assert np.array_equal(vectors(single)[0], alone[0])
    assert single.json()["usage"] == {"prompt_tokens": len(ids[0]), "total_tokens": len(ids[0])}
    both = embed(server, model_id, ids)
    assert np.array_equal(both[0], alone[0]) and np.array_equal(both[1], alone[1])


def test_usage_counts_the_tokens_of_every_input(server: RunningServer, model_id: str, vocab: llama_cpp.Llama) -> None:
    answer = post(server, {"model": model_id, "input": TEXTS}).json()
    expected = sum(len(vocab.tokenize(t.encode(), add_bos=True, special=False)) for t in TEXTS)
    assert answer["usage"] == {"prompt_tokens": expected, "total_tokens": expected}


def test_text_the_tokenizer_drops_is_still_embedded(
    server: RunningServer, model_id: str, vocab: llama_cpp.Llama, alone: list[np.ndarray]
) -> None:
    """OpenAI embeds any non-empty string; llama.cpp tokenizes control characters to nothing."""
    controls = "\u0004\u0004"
    assert vocab.tokenize(controls.encode(), add_bos=True, special=False) == []  # the case this covers
    response = post(server, {"model": model_id, "input": [TEXTS[0], controls], "encoding_format": "float"})
    first, second = vectors(response)
    assert np.array_equal(first, alone[0]) and np.isclose(np.linalg.norm(second), 1.0, atol=1e-5)
    assert response.json()["usage"]["prompt_tokens"] == len(vocab.tokenize(TEXTS[0].encode(), add_bos=True)) + 1


def test_base64_is_the_float_vector_as_little_endian_float32(
    server: RunningServer, model_id: str, alone: list[np.ndarray]
) -> None:
    answer = post(server, {"model": model_id, "input": TEXTS[:2], "encoding_format": "base64"}).json()
    for item, reference in zip(answer["data"], alone[:2], strict=True):
        decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        assert np.array_equal(decoded, reference)


def test_the_sdk_default_is_base64_and_decodes_to_the_same_vector(
    client: openai.OpenAI, model_id: str, alone: list[np.ndarray]
) -> None:
    raw = client.embeddings.with_raw_response.create(model=model_id, input=TEXTS[0])
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)
    assert np.array_equal(np.asarray(raw.parse().data[0].embedding, dtype=np.float32), alone[0])


def test_dimensions_shortens_and_renormalises(server: RunningServer, model_id: str, alone: list[np.ndarray]) -> None:
    for dims in (1, 32, 576):
        (short,) = embed(server, model_id, TEXTS[0], dimensions=dims)
        assert len(short) == dims
        assert abs(float(np.linalg.norm(short)) - 1) < 1e-5
        prefix = alone[0][:dims] / np.linalg.norm(alone[0][:dims])
        assert np.allclose(short, prefix, atol=1e-6)


def test_concurrent_requests_get_the_same_vectors(server: RunningServer, model_id: str, alone: list[np.ndarray]) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as http:
            body = {"model": model_id, "input": TEXTS, "encoding_format": "float"}
            return await asyncio.gather(*(http.post(f"{server.base_url}/embeddings", json=body) for _ in range(4)))

    for response in asyncio.run(run()):
        assert all(np.array_equal(a, b) for a, b in zip(vectors(response), alone, strict=True))


def test_a_client_that_hangs_up_stops_the_work(server: RunningServer, model_id: str) -> None:
    """400 inputs of 200 tokens would take minutes; after the client leaves, the next request is quick."""
    body = {"model": model_id, "input": [[1000 + i] * 200 for i in range(400)], "encoding_format": "float"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/embeddings", json=body, timeout=httpx.Timeout(60, read=1.5))
    started = time.monotonic()
    embed(server, model_id, "after the hang-up")
    assert time.monotonic() - started < 20


# --- errors ------------------------------------------------------------------------------------------

BAD = [
    ({"input": ""}, 400, "input", "invalid_value"),
    ({"input": []}, 400, "input", "empty_array"),
    ({"input": [[]]}, 400, "input[0]", "empty_array"),
    ({"input": ["fine", ""]}, 400, "input[1]", "invalid_value"),
    ({"input": [True]}, 400, "input[0]", "invalid_type"),
    ({"input": [[1, 2], ["a"]]}, 400, "input[1][0]", "invalid_type"),
    ({"input": [1, 10**9]}, 400, "input", "invalid_value"),
    ({"input": [[1], [-1]]}, 400, "input[1]", "invalid_value"),
    ({"input": "word " * 600}, 400, "input", "context_length_exceeded"),
    ({"input": ["short", "word " * 600]}, 400, "input[1]", "context_length_exceeded"),
    ({"input": ["x"] * 2049}, 400, "input", "array_above_max_length"),
    ({"input": "x", "dimensions": 577}, 400, "dimensions", "invalid_value"),
    ({"input": "x", "dimensions": 0}, 400, "dimensions", "integer_below_min_value"),
    ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format", "invalid_value"),
    ({"input": "x", "temperature": 1}, 400, "temperature", "unknown_parameter"),
    ({}, 400, "input", "missing_required_parameter"),
    ({"input": "x", "model": "no-such-model"}, 404, "model", "model_not_found"),
]


@pytest.mark.parametrize(("extra", "status", "param", "code"), BAD, ids=[f"{c}:{p}" for _, _, p, c in BAD])
def test_bad_requests_get_the_error_envelope(
    server: RunningServer, model_id: str, extra: dict[str, Any], status: int, param: str, code: str
) -> None:
    response = post(server, {"model": model_id, **extra})
    assert response.status_code == status, response.text
    body = response.json()
    assert openapi.schema_errors(body, "ErrorResponse") == []
    assert (body["error"]["param"], body["error"]["code"]) == (param, code), body


# --- pieces --------------------------------------------------------------------------------------------


def test_shorten_and_encodings() -> None:
    vector = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    assert np.allclose(shorten(vector, 1), [1.0])
    assert shorten(vector, None) is vector and shorten(vector, 3) is vector
    odd = np.array([0.1234567891, -3.3e-7, 1.0], dtype=np.float32)
    assert np.array_equal(np.asarray(float_list(odd), dtype=np.float32), odd)  # 9 digits round-trip float32
    assert np.array_equal(np.frombuffer(base64.b64decode(base64_floats(odd)), dtype="<f4"), odd)


def test_pooling_is_the_models_own_or_mean() -> None:
    mean, cls = llama_cpp.LLAMA_POOLING_TYPE_MEAN, llama_cpp.LLAMA_POOLING_TYPE_CLS
    assert pooling_type({"general.architecture": "llama"}) == mean
    assert pooling_type({"general.architecture": "bert", "bert.pooling_type": str(cls)}) == cls
    assert pooling_type({"general.architecture": "bert", "bert.pooling_type": "0"}) == mean  # none: one per token
