"""`POST /v1/completions` on the real bundled model: prompt forms, echo, logprobs, n/best_of, streaming.

Expectations come from the server itself (a baseline call, then the same call with one parameter
changed); token ids come from the model's own vocabulary (read with llama.cpp, vocabulary only).
Echo+logprobs and stream chunks carry nulls that OpenAI really sends but its SDK types forbid, so
those are checked on raw HTTP; the SDK (non-strict, as applications use it) must still read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import llama_cpp
import openai
import pytest

from conformance import openapi
from conformance.sse import parse as parse_sse
from reference_server.completion_request import CompletionRequest, plan_completion
from reference_server.launcher import RunningServer
from reference_server.model_files import bundled_model_path

PROMPT = "The sea is"
OTHER = "My favourite colour is"
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 8}


@pytest.fixture(scope="module")
def tokenize() -> Iterator[Any]:
    vocab = llama_cpp.Llama(model_path=str(bundled_model_path()), vocab_only=True, verbose=False)
    yield lambda text: vocab.tokenize(text.encode(), add_bos=False, special=True)
    vocab.close()


@pytest.fixture(scope="module")
def post(server: RunningServer, model_id: str) -> Any:
    def send(**body: Any) -> httpx.Response:
        return httpx.post(f"{server.base_url}/completions", json={"model": model_id, **body}, timeout=120)

    return send


@pytest.fixture(scope="module")
def greedy(post: Any) -> dict[str, Any]:
    return post(prompt=PROMPT, **GREEDY).json()


def text_of(body: dict[str, Any], index: int = 0) -> str:
    return body["choices"][index]["text"]


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert openapi.schema_errors(response.json(), "ErrorResponse") == [], response.text
    return response.json()["error"]


# --- the answer's shape ---------------------------------------------------------------------------


def test_sdk_reads_a_valid_text_completion(server: RunningServer, model_id: str, greedy: dict[str, Any]) -> None:
    assert openapi.schema_errors(greedy, "CreateCompletionResponse") == []
    strict = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, _strict_response_validation=True)
    answer = strict.completions.create(model=model_id, prompt=PROMPT, **GREEDY)
    assert answer.object == "text_completion" and answer.id.startswith("cmpl-")
    assert [c.index for c in answer.choices] == [0]
    assert answer.choices[0].text == text_of(greedy) and answer.choices[0].logprobs is None
    assert answer.choices[0].finish_reason == "length"
    usage = answer.usage
    assert usage is not None and usage.completion_tokens == 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_max_tokens_defaults_to_16(post: Any, greedy: dict[str, Any]) -> None:
    body = post(prompt=PROMPT, temperature=0).json()
    assert body["usage"]["completion_tokens"] == 16 and body["choices"][0]["finish_reason"] == "length"
    assert text_of(body).startswith(text_of(greedy))


# --- prompt forms ---------------------------------------------------------------------------------


def test_prompt_list_is_prompt_major(post: Any, greedy: dict[str, Any]) -> None:
    other = post(prompt=OTHER, **GREEDY).json()
    body = post(prompt=[PROMPT, OTHER], n=2, **GREEDY).json()
    assert openapi.schema_errors(body, "CreateCompletionResponse") == []
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert [c["text"] for c in body["choices"]] == [text_of(greedy)] * 2 + [text_of(other)] * 2
    assert body["usage"]["prompt_tokens"] == greedy["usage"]["prompt_tokens"] + other["usage"]["prompt_tokens"]


def test_token_id_prompts_mean_their_text(post: Any, tokenize: Any, greedy: dict[str, Any]) -> None:
    ids = tokenize(PROMPT)
    single = post(prompt=ids, **GREEDY).json()
    assert text_of(single) == text_of(greedy)
    assert single["usage"]["prompt_tokens"] == len(ids)
    lists = post(prompt=[ids, tokenize(OTHER)], **GREEDY).json()
    assert text_of(lists, 0) == text_of(greedy)
    assert text_of(lists, 1) == text_of(post(prompt=OTHER, **GREEDY).json())
    echoed = post(prompt=ids, echo=True, **GREEDY).json()
    assert text_of(echoed) == PROMPT + text_of(greedy)


@pytest.mark.parametrize(
    ("prompt", "param"),
    [([], "prompt"), ([1, 10**9], "prompt"), ([[1], [-1]], "prompt[1]"), ([[]], "prompt[0]"), (["a", 1], "prompt[1]")],
)
def test_bad_prompts_are_400_naming_the_prompt(post: Any, prompt: Any, param: str) -> None:
    response = post(prompt=prompt, max_tokens=2)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_missing_prompt_and_unknown_model(post: Any) -> None:
    missing = post()
    assert missing.status_code == 400 and error_of(missing)["param"] == "prompt"
    unknown = post(model="no-such-model", prompt=PROMPT)
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "model_not_found"


# --- suffix ---------------------------------------------------------------------------------------


def test_suffix_is_a_clear_400_without_fim_tokens(post: Any) -> None:
    response = post(prompt=PROMPT, suffix=" and that is all.", max_tokens=4)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == ("suffix", "unsupported_parameter")
    assert "fill-in-the-middle" in error["message"]
    assert post(prompt=PROMPT, suffix="", max_tokens=2).status_code == 200  # an empty suffix asks for nothing


def test_suffix_with_fim_tokens_is_prefix_suffix_middle() -> None:
    """No bundled model has FIM tokens, so the prompt assembly is checked on a stand-in vocabulary."""
    engine = SimpleNamespace(
        n_vocab=100,
        n_ctx=64,
        bos_token="",
        eos_token="",
        metadata={
            "tokenizer.ggml.fim_pre_token_id": "90",
            "tokenizer.ggml.fim_suf_token_id": "91",
            "tokenizer.ggml.fim_mid_token_id": "92",
        },
        tokenize=lambda text: [ord(c) - 60 for c in text],
        token_bytes=lambda t: bytes([t + 60]),
    )
    body = CompletionRequest(model="m", prompt="AB", suffix="C")
    plan = plan_completion(body, SimpleNamespace(engine=engine))  # type: ignore[arg-type]
    assert plan.prompts[0].tokens == [90, 5, 6, 91, 7, 92]
    with pytest.raises(Exception, match="echo"):
        plan_completion(CompletionRequest(model="m", prompt="AB", suffix="C", echo=True), SimpleNamespace(engine=engine))  # type: ignore[arg-type]


# --- echo and logprobs ----------------------------------------------------------------------------


def test_echo_prepends_the_prompt(post: Any, greedy: dict[str, Any]) -> None:
    assert text_of(post(prompt=PROMPT, echo=True, **GREEDY).json()) == PROMPT + text_of(greedy)
    only_prompt = post(prompt=PROMPT, echo=True, max_tokens=0).json()
    assert text_of(only_prompt) == PROMPT and only_prompt["usage"]["completion_tokens"] == 0


def test_logprobs_legacy_shape(post: Any, greedy: dict[str, Any]) -> None:
    body = post(prompt=PROMPT, logprobs=3, **GREEDY).json()
    assert openapi.schema_errors(body, "CreateCompletionResponse") == []
    assert text_of(body) == text_of(greedy)
    lp = body["choices"][0]["logprobs"]
    assert "".join(lp["tokens"]) == text_of(body)
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 8
    offsets = [len(PROMPT) + len("".join(lp["tokens"][:i])) for i in range(len(lp["tokens"]))]
    assert lp["text_offset"] == offsets  # counted from the start of the prompt, as OpenAI does
    for token, logprob, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], strict=True):
        assert logprob <= 0 and len(top) == 3
        assert top[token] == logprob == max(top.values())  # greedy: the chosen token is the likeliest
    zero = post(prompt=PROMPT, logprobs=0, **GREEDY).json()["choices"][0]["logprobs"]
    assert all(len(top) == 1 for top in zero["top_logprobs"])  # just the sampled token


def test_echo_with_logprobs_scores_the_prompt(post: Any, greedy: dict[str, Any], tokenize: Any, client: openai.OpenAI, model_id: str) -> None:
    body = post(prompt=PROMPT, echo=True, logprobs=2, **GREEDY).json()
    choice = body["choices"][0]
    assert choice["text"] == PROMPT + text_of(greedy)  # scoring the prompt changes no sampled token
    lp = choice["logprobs"]
    prompt_count = len(tokenize(PROMPT))
    assert "".join(lp["tokens"]) == choice["text"]
    assert len(lp["tokens"]) == prompt_count + body["usage"]["completion_tokens"]
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    assert all(x <= 0 for x in lp["token_logprobs"][1:])
    assert lp["text_offset"][0] == 0 and lp["text_offset"][prompt_count] == len(PROMPT)
    # The prompt scores are the model's own: scoring prompt+first token rescores the same numbers.
    longer = post(prompt=PROMPT + lp["tokens"][prompt_count], echo=True, logprobs=0, max_tokens=0).json()
    assert longer["choices"][0]["logprobs"]["token_logprobs"][1:] == pytest.approx(lp["token_logprobs"][1 : prompt_count + 1], abs=1e-3)
    # The SDK, as applications use it (not strict), reads the null the way OpenAI sends it.
    sdk = client.completions.create(model=model_id, prompt=PROMPT, echo=True, logprobs=1, max_tokens=2, temperature=0)
    assert sdk.choices[0].logprobs is not None and sdk.choices[0].logprobs.token_logprobs[0] is None  # type: ignore[index]


@pytest.mark.parametrize(("value", "status"), [(6, 400), (True, 400), (-1, 400)])
def test_logprobs_out_of_range(post: Any, value: Any, status: int) -> None:
    response = post(prompt=PROMPT, logprobs=value, max_tokens=2)
    assert response.status_code == status and error_of(response)["param"] == "logprobs"


# --- n, best_of, seed, stop -----------------------------------------------------------------------


def test_best_of_returns_the_candidate_with_the_best_mean_logprob(post: Any) -> None:
    sampled = {"prompt": PROMPT, "temperature": 1, "seed": 11, "max_tokens": 6}
    all_three = post(n=3, logprobs=0, **sampled).json()
    means = [sum(c["logprobs"]["token_logprobs"]) / len(c["logprobs"]["token_logprobs"]) for c in all_three["choices"]]
    texts = [c["text"] for c in all_three["choices"]]
    assert len(set(texts)) > 1, "the three candidates should differ for this test to mean anything"
    best = post(best_of=3, **sampled).json()
    assert [c["index"] for c in best["choices"]] == [0] and best["choices"][0]["logprobs"] is None
    assert text_of(best) == texts[means.index(max(means))]
    assert best["usage"]["completion_tokens"] == all_three["usage"]["completion_tokens"]  # all candidates count
    two = post(best_of=3, n=2, **sampled).json()
    ranked = [t for _, t in sorted(zip(means, texts, strict=True), reverse=True)]
    assert [c["text"] for c in two["choices"]] == ranked[:2]


@pytest.mark.parametrize("body", [{"best_of": 1, "n": 2}, {"best_of": 3, "stream": True}])
def test_best_of_conflicts_are_400(post: Any, body: dict[str, Any]) -> None:
    response = post(prompt=PROMPT, max_tokens=2, **body)
    assert response.status_code == 400 and error_of(response)["param"] == "best_of"


def test_seed_repeats_and_stop_cuts(post: Any, greedy: dict[str, Any]) -> None:
    sampled = {"prompt": PROMPT, "temperature": 1, "max_tokens": 8}
    assert text_of(post(seed=5, **sampled).json()) == text_of(post(seed=5, **sampled).json())
    base = text_of(greedy)
    stop = base[len(base) // 2 : len(base) // 2 + 3]
    cut = post(prompt=PROMPT, stop=[stop], **GREEDY).json()
    assert text_of(cut) == base[: base.find(stop)] and cut["choices"][0]["finish_reason"] == "stop"


def test_context_overflow_is_400(post: Any, server: RunningServer) -> None:
    response = post(prompt=PROMPT, max_tokens=10**7)
    assert response.status_code == 400 and error_of(response)["code"] == "context_length_exceeded"


# --- streaming ------------------------------------------------------------------------------------


def test_stream_framing_text_and_usage(server: RunningServer, post: Any, greedy: dict[str, Any]) -> None:
    response = post(prompt=[PROMPT, OTHER], stream=True, stream_options={"include_usage": True}, **GREEDY)
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = parse_sse(response.text)
    assert not stream.stray_lines and not stream.unterminated
    assert [e.data for e in stream.events][-1] == "[DONE]"
    chunks = stream.chunks
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and all(c["object"] == "text_completion" for c in chunks)
    plain = post(prompt=[PROMPT, OTHER], **GREEDY).json()
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])
    texts: dict[int, str] = {}
    finishes: dict[int, list[Any]] = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
        finishes.setdefault(choice["index"], []).append(choice["finish_reason"])
        # every chunk is the spec's object apart from the nulls OpenAI streams (and documents for usage)
        as_spec = {**{k: v for k, v in chunk.items() if v is not None}, "choices": [{**choice, "finish_reason": "stop"}]}
        assert openapi.schema_errors(as_spec, "CreateCompletionResponse") == []
    assert texts == {c["index"]: c["text"] for c in plain["choices"]}
    assert {i: f[-1] for i, f in finishes.items()} == {c["index"]: c["finish_reason"] for c in plain["choices"]}
    assert not any(r for f in finishes.values() for r in f[:-1])
    no_usage = parse_sse(post(prompt=PROMPT, stream=True, **GREEDY).text).chunks
    assert all("usage" not in c for c in no_usage)


def test_stream_echo_with_logprobs_matches_the_plain_answer(post: Any) -> None:
    plain = post(prompt=PROMPT, echo=True, logprobs=1, **GREEDY).json()["choices"][0]
    chunks = parse_sse(post(prompt=PROMPT, echo=True, logprobs=1, stream=True, **GREEDY).text).chunks
    tokens: list[str] = []
    offsets: list[int] = []
    for chunk in chunks:
        lp = chunk["choices"][0]["logprobs"]
        if lp:
            tokens += lp["tokens"]
            offsets += lp["text_offset"]
    assert "".join(c["choices"][0]["text"] for c in chunks) == plain["text"]
    assert (tokens, offsets) == (plain["logprobs"]["tokens"], plain["logprobs"]["text_offset"])


def test_sdk_streams_a_completion(client: openai.OpenAI, model_id: str, greedy: dict[str, Any]) -> None:
    stream = client.completions.create(model=model_id, prompt=PROMPT, stream=True, **GREEDY)
    assert "".join(c.choices[0].text for c in stream if c.choices) == text_of(greedy)


def test_stream_options_without_stream_is_400(post: Any) -> None:
    response = post(prompt=PROMPT, stream_options={"include_usage": True}, max_tokens=2)
    assert response.status_code == 400 and error_of(response)["param"] == "stream_options"
