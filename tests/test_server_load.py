"""Concurrency and disconnects: parallel requests are neither lost nor mixed, and a client that goes away
frees the engine at once (the next request does not wait for the abandoned generation)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from reference_server.launcher import RunningServer, running_server

# Banning end-of-text makes a generation run until max_tokens: long enough that only a real cancel
# lets the next request through quickly. The id is checked against the server's own logprobs below.
EOS_ID = "2"
ENDLESS: dict[str, Any] = {"temperature": 0, "max_tokens": 3000, "logit_bias": {EOS_ID: -100}}
ESSAY = [{"role": "user", "content": "Write a very long essay about the history of bread."}]
QUICK_SECONDS = 8.0


@pytest.fixture(scope="module")
def model_id(server: RunningServer) -> str:
    return httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]


def quick_request(server: RunningServer, model_id: str) -> float:
    started = time.monotonic()
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0},
        timeout=120,
    )
    assert response.status_code == 200
    return time.monotonic() - started


def test_eight_parallel_streams_complete_with_their_own_outputs(server: RunningServer, model_id: str) -> None:
    topics = ["cats", "rivers", "clocks", "volcanoes", "violins", "deserts", "bees", "lighthouses"]
    prompts = [[{"role": "user", "content": f"Write one sentence about {t}."}] for t in topics]
    params: dict[str, Any] = {"temperature": 0, "max_tokens": 8}
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
        expected = [
            client.chat.completions.create(model=model_id, messages=p, **params).choices[0].message.content
            for p in prompts
        ]
    assert len(set(expected)) == len(expected), "the prompts must give distinguishable answers"

    async def one(aclient: openai.AsyncOpenAI, messages: list[dict[str, str]]) -> tuple[str, str, int]:
        stream = await aclient.chat.completions.create(
            model=model_id, messages=messages, **params, stream=True, stream_options={"include_usage": True}
        )
        text, ids, tokens = "", set(), 0
        async for chunk in stream:
            ids.add(chunk.id)
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        assert len(ids) == 1
        return text, ids.pop(), tokens

    async def run() -> list[tuple[str, str, int]]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120) as aclient:
            return await asyncio.gather(*(one(aclient, p) for p in prompts))

    results = asyncio.run(run())
    assert [text for text, _, _ in results] == expected
    assert len({cid for _, cid, _ in results}) == 8
    assert all(tokens == params["max_tokens"] for _, _, tokens in results)


def test_eos_id_is_the_models_end_token(server: RunningServer, model_id: str) -> None:
    """Guards the disconnect tests: without the ban the answer ends early, with it it does not."""
    body = {
        "model": model_id, "messages": [{"role": "user", "content": "Reply with one word: yes or no. Is water wet?"}],
            "temperature": 0, "max_tokens": 200}
    free = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
    assert free["choices"][0]["finish_reason"] == "stop"
    banned = httpx.post(
        f"{server.base_url}/chat/completions", json={**body, "logit_bias": {EOS_ID: -100}}, timeout=120
    ).json()
    assert banned["choices"][0]["finish_reason"] == "length"


def test_stream_disconnect_frees_the_engine(server: RunningServer, model_id: str) -> None:
    body = {"model": model_id, "messages": ESSAY, **ENDLESS, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=120) as response:
        lines = response.iter_lines()
        seen = [line for _, line in zip(range(12), lines, strict=False)]
        assert sum(line.startswith("data: {") for line in seen) >= 5
        assert not any('"finish_reason":"' in line for line in seen)
    # The generation had ~3000 tokens to go (about a minute); only a cancel makes this quick.
    assert quick_request(server, model_id) < QUICK_SECONDS


def test_non_streamed_disconnect_frees_the_engine(server: RunningServer, model_id: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{server.base_url}/chat/completions", json={"model": model_id, "messages": ESSAY, **ENDLESS}, timeout=1.5
        )
    assert quick_request(server, model_id) < QUICK_SECONDS


def test_queued_request_abandoned_before_it_starts_is_skipped(server: RunningServer, model_id: str) -> None:
    body = {"model": model_id, "messages": ESSAY, **ENDLESS, "stream": True}
    url = f"{server.base_url}/chat/completions"
    with httpx.Client(timeout=120) as one, httpx.Client(timeout=120) as two, one.stream("POST", url, json=body) as first:
        next(first.iter_lines())
        with two.stream("POST", url, json=body) as second:
            assert second.status_code == 200  # queued behind the first, then abandoned
    assert quick_request(server, model_id) < QUICK_SECONDS


def test_server_stops_promptly_after_abandoned_requests(tmp_path: Path) -> None:
    """Nothing an abandoned request leaves behind may keep the server from shutting down on SIGTERM."""
    with running_server(log_path=str(tmp_path / "server.log")) as own:
        model = httpx.get(f"{own.base_url}/models").json()["data"][0]["id"]
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{own.base_url}/chat/completions", json={"model": model, "messages": ESSAY, **ENDLESS}, timeout=1)
        with httpx.stream(
            "POST", f"{own.base_url}/chat/completions", json={"model": model, "messages": ESSAY, **ENDLESS, "stream": True},
            timeout=60,
        ) as response:
            next(response.iter_lines())
        assert quick_request(own, model) < QUICK_SECONDS
        # A stream still being read when the server is told to stop is cut short, not run to its end.
        client = httpx.Client(timeout=60)
        request = client.build_request(
            "POST", f"{own.base_url}/chat/completions", json={"model": model, "messages": ESSAY, **ENDLESS, "stream": True}
        )
        live = client.send(request, stream=True)
        next(live.iter_lines())
        stopping = time.monotonic()
    live.close()
    client.close()
    # uvicorn re-raises the SIGTERM it handled gracefully (-15); -9 would mean the launcher had to kill it.
    assert own.process.returncode in (0, -signal.SIGTERM), own.process.returncode
    assert time.monotonic() - stopping < 10
