"""vLLM's sampling extensions on the real server, each against the server's own greedy answer.

The token ids come from the model's own tokenizer (loaded vocabulary-only), so stop_token_ids can be
aimed at a known position of the greedy answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import llama_cpp
import pytest

from reference_server.launcher import RunningServer
from reference_server.model_files import bundled_model_path

SEA = [{"role": "user", "content": "Write one sentence about the sea."}]
HELLO = [{"role": "user", "content": "Say hello."}]
SUM = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture(scope="module")
def model_id(server: RunningServer) -> str:
    return httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]


@pytest.fixture(scope="module")
def tokenizer() -> Iterator[Any]:
    llm = llama_cpp.Llama(str(bundled_model_path()), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def chat(server: RunningServer, model_id: str, messages: list = SEA, **params: Any) -> dict[str, Any]:
    body = {"model": model_id, "messages": messages, "temperature": 0, "max_tokens": 12, **params}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def content(answer: dict[str, Any]) -> str:
    return answer["choices"][0]["message"]["content"]


@pytest.fixture(scope="module")
def greedy(server: RunningServer, model_id: str) -> dict[str, Any]:
    return chat(server, model_id)


def test_top_k_and_min_p_that_keep_one_token_are_greedy(server: RunningServer, model_id: str, greedy: dict) -> None:
    hot = {"temperature": 1.5, "seed": 3}
    assert content(chat(server, model_id, **hot, top_k=1)) == content(greedy)
    assert content(chat(server, model_id, **hot, min_p=1.0)) == content(greedy)
    sampled = content(chat(server, model_id, **hot))
    assert sampled != content(greedy)  # the equalities above are not what temperature 1.5 gives anyway
    assert content(chat(server, model_id, **hot, top_k=-1)) == sampled  # -1: all tokens
    assert content(chat(server, model_id, **hot, min_p=0.0)) == sampled


def test_repetition_penalty_one_is_neutral_and_two_is_not(server: RunningServer, model_id: str) -> None:
    base = content(chat(server, model_id, HELLO, max_tokens=16))
    assert content(chat(server, model_id, HELLO, max_tokens=16, repetition_penalty=1.0)) == base
    assert content(chat(server, model_id, HELLO, max_tokens=16, repetition_penalty=2.0)) != base


def test_stop_token_ids_end_the_answer_at_that_token(server: RunningServer, model_id: str, greedy: dict, tokenizer: Any) -> None:
    tokens = tokenizer.tokenize(content(greedy).encode(), add_bos=False, special=False)
    third = int(tokens[2])
    before = tokenizer.detokenize(tokens[:2]).decode()
    cut = chat(server, model_id, stop_token_ids=[third])
    assert (content(cut), cut["choices"][0]["finish_reason"]) == (before, "stop")
    assert cut["usage"]["completion_tokens"] == 3  # the stop token was generated, as on vLLM
    kept = chat(server, model_id, stop_token_ids=[third], include_stop_str_in_output=True)
    assert content(kept) == tokenizer.detokenize(tokens[:3]).decode()


def test_include_stop_str_in_output_keeps_the_stop_string_streamed_or_not(server: RunningServer, model_id: str, greedy: dict) -> None:
    text = content(greedy)
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    kept = chat(server, model_id, stop=stop, include_stop_str_in_output=True)
    assert content(kept) == text[: text.index(stop)] + stop
    body = {"model": model_id, "messages": SEA, "temperature": 0, "max_tokens": 12, "stop": stop, "include_stop_str_in_output": True, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        raw = response.read().decode()
    chunks = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == content(kept)


def test_ignore_eos_runs_to_max_tokens(server: RunningServer, model_id: str) -> None:
    natural = chat(server, model_id, SUM, max_tokens=24)
    assert natural["choices"][0]["finish_reason"] == "stop"
    used = natural["usage"]["completion_tokens"]
    longer = chat(server, model_id, SUM, max_tokens=used + 3, ignore_eos=True)
    assert longer["usage"]["completion_tokens"] == used + 3
    assert longer["choices"][0]["finish_reason"] == "length"
    assert content(longer).startswith(content(natural))


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"top_k": -2}, "top_k", "invalid_value"),
        ({"top_k": 1.5}, "top_k", "invalid_type"),  # a decimal where an integer is due, as OpenAI says
        ({"min_p": 1.5}, "min_p", "decimal_above_max_value"),
        ({"repetition_penalty": 0}, "repetition_penalty", "decimal_below_min_value"),
        ({"stop_token_ids": [10**7]}, "stop_token_ids", "invalid_value"),
        ({"stop_token_ids": [-1]}, "stop_token_ids[0]", "integer_below_min_value"),
        ({"ignore_eos": True, "response_format": {"type": "json_object"}, "messages": [{"role": "user", "content": "json"}]}, "ignore_eos", "invalid_value"),
    ],
)
def test_bad_extension_values_are_400_naming_them(server: RunningServer, model_id: str, change: dict, param: str, code: str) -> None:
    body = {"model": model_id, "messages": SEA, "max_tokens": 1, **change}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error
