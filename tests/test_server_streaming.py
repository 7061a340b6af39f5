"""Streamed chat completions: exact SSE framing on the raw bytes, chunk order and content, SDK sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai

from conformance import openapi
from reference_server.launcher import RunningServer

SAY = [{"role": "user", "content": "Tell me about the moon."}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 10}


def raw_stream(server: RunningServer, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        text = response.read().decode()
    return response, text


def events(text: str) -> list[str]:
    """The data payloads, asserting OpenAI's exact framing: `data: <payload>\\n\\n` and nothing else."""
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    for block in blocks:
        assert block.startswith("data: ") and "\n" not in block, repr(block)
    return [b.removeprefix("data: ") for b in blocks]


def test_raw_stream_framing_and_chunk_sequence(server: RunningServer, model_id: str) -> None:
    response, text = raw_stream(server, {"model": model_id, "messages": SAY, **GREEDY, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = events(text)
    assert payloads[-1] == "[DONE]" and "[DONE]" not in payloads[:-1]
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        assert openapi.schema_errors(chunk, "CreateChatCompletionStreamResponse") == []
        assert chunk["object"] == "chat.completion.chunk"
        assert "usage" not in chunk
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    assert chunks[0]["model"] == model_id
    first = chunks[0]["choices"][0]
    assert first["delta"]["role"] == "assistant" and first["delta"]["content"] == ""
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1) and finishes[-1] == "length"
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert all(c["choices"][0]["logprobs"] is None for c in chunks)


def test_streamed_text_and_usage_equal_the_non_streamed_answer(server: RunningServer, model_id: str) -> None:
    body = {"model": model_id, "messages": SAY, **GREEDY}
    whole = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
    _, text = raw_stream(server, {**body, "stream": True, "stream_options": {"include_usage": True}})
    chunks = [json.loads(p) for p in events(text)[:-1]]
    assert all("usage" in c for c in chunks)
    assert all(c["usage"] is None for c in chunks[:-1])
    last = chunks[-1]
    assert last["choices"] == [] and openapi.schema_errors(last, "CreateChatCompletionStreamResponse") == []
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert content == whole["choices"][0]["message"]["content"]
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert last["usage"][key] == whole["usage"][key]
    assert last["usage"]["prompt_tokens_details"]["cached_tokens"] > 0  # same prompt twice in a row


def test_sdk_sync_stream_with_stop_and_logprobs(client: openai.OpenAI, model_id: str) -> None:
    whole = client.chat.completions.create(model=model_id, messages=SAY, **{**GREEDY, "max_tokens": 20})
    text = whole.choices[0].message.content
    stop = " " + text.split()[3]  # starts where a token starts, so no token is half shown
    expected = text[: text.index(stop)]
    stream = client.chat.completions.create(
        model=model_id, messages=SAY, **{**GREEDY, "max_tokens": 20}, stop=[stop], logprobs=True, top_logprobs=3,
        stream=True,
    )
    pieces, tokens, finish = [], [], []
    for chunk in stream:
        choice = chunk.choices[0]
        pieces.append(choice.delta.content or "")
        if choice.logprobs and choice.logprobs.content:
            tokens += [t.token for t in choice.logprobs.content]
            assert all(len(t.top_logprobs) == 3 for t in choice.logprobs.content)
        finish.append(choice.finish_reason)
    assert "".join(pieces) == expected
    assert "".join(tokens) == expected
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}


def test_stream_with_n_choices_keeps_them_apart(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    params = {"temperature": 1.2, "seed": 11, "max_tokens": 8, "n": 2}
    whole = client.chat.completions.create(model=model_id, messages=SAY, **params)
    _, text = raw_stream(server, {"model": model_id, "messages": SAY, **params, "stream": True})
    chunks = [json.loads(p) for p in events(text)[:-1]]
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
        assert mine[0]["delta"]["role"] == "assistant"
        assert [m["finish_reason"] for m in mine if m["finish_reason"]] == [whole.choices[index].finish_reason]
        assert mine[-1]["finish_reason"] is not None
        assert "".join(m["delta"].get("content") or "" for m in mine) == whole.choices[index].message.content


def test_async_sdk_stream(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    expected = client.chat.completions.create(model=model_id, messages=SAY, **GREEDY).choices[0].message.content

    async def run() -> tuple[str, Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as aclient:
            stream = await aclient.chat.completions.create(
                model=model_id, messages=SAY, **GREEDY, stream=True, stream_options={"include_usage": True}
            )
            text, usage = "", None
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                usage = chunk.usage or usage
            return text, usage

    text, usage = asyncio.run(run())
    assert text == expected
    assert usage is not None and usage.completion_tokens == GREEDY["max_tokens"]


def test_stream_errors_before_streaming_are_plain_json(server: RunningServer, model_id: str) -> None:
    response, text = raw_stream(server, {"model": "nope", "messages": SAY, "stream": True})
    assert response.status_code == 404 and json.loads(text)["error"]["code"] == "model_not_found"
    response, text = raw_stream(server, {"model": model_id, "messages": SAY, "stream_options": {"include_usage": True}})
    assert response.status_code == 400 and json.loads(text)["error"]["param"] == "stream_options"
