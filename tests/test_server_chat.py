"""Non-streamed chat completions and /v1/models through the official SDK, on the real bundled model.

Expectations come from the server itself (a baseline call, then the same call with one parameter
changed), never from what the model happens to know.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import llama_cpp
import openai
import pytest

from conformance import openapi
from reference_server.launcher import RunningServer
from reference_server.model_files import bundled_model_path

SAY = [{"role": "user", "content": "Write a short story about a cat."}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 12}


def chat(client: openai.OpenAI, model_id: str, messages: list[dict[str, Any]] = SAY, **params: Any) -> Any:
    return client.chat.completions.create(model=model_id, messages=messages, **{**GREEDY, **params})


def raw_chat(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)


# --- /v1/models ----------------------------------------------------------------------------------


def test_models_list_and_retrieve(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    listing = httpx.get(f"{server.base_url}/models").json()
    assert openapi.schema_errors(listing, "ListModelsResponse") == []
    assert [m["id"] for m in listing["data"]] == [model_id]
    card = client.models.retrieve(model_id)
    assert (card.id, card.object, card.owned_by) == (model_id, "model", "reference-server")
    assert isinstance(card.created, int) and card.created > 0
    assert openapi.schema_errors(httpx.get(f"{server.base_url}/models/{model_id}").json(), "Model") == []


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI, model_id: str) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as info:
        chat(client, "no-such-model")
    assert info.value.body["code"] == "model_not_found"


# --- shape ---------------------------------------------------------------------------------------


def test_completion_matches_the_spec_and_has_full_usage(server: RunningServer, model_id: str) -> None:
    body = raw_chat(server, {"model": model_id, "messages": SAY, **GREEDY}).json()
    assert openapi.schema_errors(body, "CreateChatCompletionResponse") == []
    choice = body["choices"][0]
    # Required-but-nullable fields are present as null; optional non-nullable ones are absent.
    assert choice["logprobs"] is None
    assert choice["message"]["refusal"] is None
    assert "tool_calls" not in choice["message"]
    assert body["object"] == "chat.completion" and body["model"] == model_id
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert "cached_tokens" in usage["prompt_tokens_details"]


def test_max_tokens_and_max_completion_tokens_limit_with_finish_length(client: openai.OpenAI, model_id: str) -> None:
    a = chat(client, model_id, max_tokens=5)
    b = client.chat.completions.create(model=model_id, messages=SAY, temperature=0, max_completion_tokens=5)
    for r in (a, b):
        assert r.usage.completion_tokens == 5
        assert r.choices[0].finish_reason == "length"
    assert a.choices[0].message.content == b.choices[0].message.content


def test_finish_reason_stop_happens_when_the_model_ends(client: openai.OpenAI, model_id: str) -> None:
    messages = [{"role": "user", "content": "Reply with one word: yes or no. Is water wet?"}]
    free = chat(client, model_id, messages, max_tokens=200)
    assert free.choices[0].finish_reason == "stop", "the model should end on its own well within 200 tokens"
    n = free.usage.completion_tokens
    assert n < 200
    cut = chat(client, model_id, messages, max_tokens=n)
    assert cut.choices[0].finish_reason == "length" and cut.choices[0].message.content == free.choices[0].message.content
    one_more = chat(client, model_id, messages, max_tokens=n + 1)
    assert one_more.choices[0].finish_reason == "stop"


def test_greedy_is_deterministic_and_prefix_cache_is_reported(client: openai.OpenAI, model_id: str) -> None:
    messages = [{"role": "user", "content": "List three colours of the rainbow, cache-test."}]
    first = chat(client, model_id, messages)
    second = chat(client, model_id, messages)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert 0 < cached < second.usage.prompt_tokens  # the last prompt token is always re-read
    other = chat(client, model_id, [{"role": "system", "content": "Different start."}, *messages])
    assert other.usage.prompt_tokens_details.cached_tokens < cached


# --- sampling parameters -------------------------------------------------------------------------


def test_seed_reproduces_samples_and_no_seed_varies(client: openai.OpenAI, model_id: str) -> None:
    hot: dict[str, Any] = {"temperature": 1.5, "max_tokens": 16}
    a = chat(client, model_id, seed=1234, **hot).choices[0].message.content
    b = chat(client, model_id, seed=1234, **hot).choices[0].message.content
    assert a == b
    unseeded = {chat(client, model_id, **hot).choices[0].message.content for _ in range(3)}
    assert len(unseeded) > 1
    other_seeds = {chat(client, model_id, seed=s, **hot).choices[0].message.content for s in (1, 2, 3)}
    assert len(other_seeds) > 1


def test_n_returns_indexed_distinct_choices(client: openai.OpenAI, model_id: str) -> None:
    r = chat(client, model_id, n=3, temperature=1.5, seed=7, max_tokens=10)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) > 1
    assert r.usage.completion_tokens == sum(
        chat(client, model_id, temperature=1.5, seed=7 + i, max_tokens=10).usage.completion_tokens for i in range(3)
    )
    greedy = chat(client, model_id, n=2)
    assert greedy.choices[0].message.content == greedy.choices[1].message.content


def test_temperature_and_top_p_narrow_to_greedy(client: openai.OpenAI, model_id: str) -> None:
    greedy = chat(client, model_id).choices[0].message.content
    nucleus = chat(client, model_id, temperature=1.0, top_p=0.0, seed=3).choices[0].message.content
    assert nucleus == greedy


def test_stop_strings_cut_output_before_the_stop(client: openai.OpenAI, model_id: str) -> None:
    base = chat(client, model_id, max_tokens=20).choices[0].message.content
    words = base.split()
    assert len(words) >= 4
    stop = " " + words[2]
    cut = base.index(stop)
    r = chat(client, model_id, max_tokens=20, stop=stop)
    assert r.choices[0].message.content == base[:cut]
    assert r.choices[0].finish_reason == "stop"
    several = chat(client, model_id, max_tokens=20, stop=["\u2603never", stop, " " + words[3]])
    assert several.choices[0].message.content == base[:cut]


def test_logit_bias_forces_and_forbids_tokens(client: openai.OpenAI, model_id: str) -> None:
    base = chat(client, model_id, max_tokens=1, logprobs=True, top_logprobs=2)
    first = base.choices[0].logprobs.content[0]
    runner_up = first.top_logprobs[1]
    token_ids = _token_ids([first.token, runner_up.token])
    banned = chat(client, model_id, max_tokens=1, logit_bias={str(token_ids[first.token]): -100})
    assert banned.choices[0].message.content != first.token
    forced = chat(client, model_id, max_tokens=3, logit_bias={str(token_ids[runner_up.token]): 100})
    assert forced.choices[0].message.content == runner_up.token * 3


def _token_ids(tokens: list[str]) -> dict[str, int]:
    """Token ids of single-token texts, from the bundled model's own vocabulary (the API has no tokenizer)."""
    found: dict[str, int] = {}
    llm = llama_cpp.Llama(str(bundled_model_path()), vocab_only=True, verbose=False)
    for text in tokens:
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert len(ids) == 1, f"{text!r} is not a single token"
        found[text] = ids[0]
    return found


def test_penalties_change_repetitive_output(client: openai.OpenAI, model_id: str) -> None:
    messages = [{"role": "user", "content": "Write the word 'hello' 30 times, separated by spaces."}]

    def hellos(**params: Any) -> int:
        text = chat(client, model_id, messages, max_tokens=30, **params).choices[0].message.content
        return text.lower().count("hello")

    base = hellos()
    assert base >= 5, "the baseline must repeat itself for this check to mean anything"
    assert hellos(frequency_penalty=2.0) < base
    assert hellos(presence_penalty=2.0) < base
    assert hellos(frequency_penalty=0.0, presence_penalty=0.0) == base


def test_logprobs_have_openai_shape_and_agree_with_greedy_choice(server: RunningServer, model_id: str) -> None:
    body = raw_chat(server, {"model": model_id, "messages": SAY, **GREEDY, "logprobs": True, "top_logprobs": 5}).json()
    assert openapi.schema_errors(body, "CreateChatCompletionResponse") == []
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert choice["logprobs"]["refusal"] is None
    assert len(entries) == body["usage"]["completion_tokens"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    for e in entries:
        assert e["bytes"] == list(e["token"].encode())
        assert e["logprob"] <= 0
        tops = e["top_logprobs"]
        assert len(tops) == 5
        assert [t["logprob"] for t in tops] == sorted((t["logprob"] for t in tops), reverse=True)
        assert tops[0]["token"] == e["token"] and tops[0]["logprob"] == pytest.approx(e["logprob"])
    no_top = raw_chat(server, {"model": model_id, "messages": SAY, **GREEDY, "logprobs": True}).json()
    assert all(e["top_logprobs"] == [] for e in no_top["choices"][0]["logprobs"]["content"])
    assert no_top["choices"][0]["message"]["content"] == choice["message"]["content"]


# --- messages ------------------------------------------------------------------------------------


def test_text_parts_equal_plain_string(client: openai.OpenAI, model_id: str) -> None:
    plain = chat(client, model_id).choices[0].message.content
    parts = chat(client, model_id, [{"role": "user", "content": [{"type": "text", "text": SAY[0]["content"]}]}])
    assert parts.choices[0].message.content == plain


def test_developer_role_acts_as_system_for_this_template(client: openai.OpenAI, model_id: str) -> None:
    system = chat(client, model_id, [{"role": "system", "content": "You answer in French."}, *SAY])
    developer = chat(client, model_id, [{"role": "developer", "content": "You answer in French."}, *SAY])
    assert developer.choices[0].message.content == system.choices[0].message.content
    assert developer.usage.prompt_tokens == system.usage.prompt_tokens


def test_all_roles_in_one_conversation(client: openai.OpenAI, model_id: str) -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "What is 2+2?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 4."}]},
        {"role": "user", "content": "Thanks."},
    ]
    r = chat(client, model_id, messages, user="user-1234")
    assert r.choices[0].message.role == "assistant"
    assert r.usage.prompt_tokens > chat(client, model_id, messages[-1:]).usage.prompt_tokens


# --- async SDK -----------------------------------------------------------------------------------


def test_async_client(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    expected = chat(client, model_id).choices[0].message.content

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as aclient:
            replies = await asyncio.gather(
                *(aclient.chat.completions.create(model=model_id, messages=SAY, **GREEDY) for _ in range(2))
            )
            models = await aclient.models.list()
            assert models.data[0].id == model_id
            return [r.choices[0].message.content for r in replies]

    assert asyncio.run(run()) == [expected, expected]


def test_prompt_and_greedy_output_match_llama_cpp_python(client: openai.OpenAI, model_id: str) -> None:
    """The GGUF's own chat template renders the prompt: llama-cpp-python, left to pick the template
    itself, builds it from `tokenizer.chat_template` too and must agree token for token."""
    llm = llama_cpp.Llama(str(bundled_model_path()), n_ctx=1024, n_threads=1, verbose=False)
    assert llm.chat_format == "chat_template.default"
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "Apple."},
        {"role": "user", "content": "Describe it in detail."},
    ]
    reference = llm.create_chat_completion(messages, max_tokens=16, temperature=0)
    ours = chat(client, model_id, messages, max_tokens=16)
    assert ours.usage.prompt_tokens == reference["usage"]["prompt_tokens"]
    assert ours.choices[0].message.content == reference["choices"][0]["message"]["content"]
    llm.close()
