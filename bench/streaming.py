"""One streamed chat completion over HTTP, timed per token.

The client is deliberately thin (httpx and a line split, no SDK models): it shares two cores with the
server it measures, so every microsecond it spends per chunk would be charged to the server. The same
client measures every HTTP contender, so any cost it does have is the same for all of them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class StreamTiming:
    """When the tokens of one answer arrived. Tokens are chunks that carry content text."""

    started: float  # perf_counter at send
    ttft: float | None = None  # seconds from send to the first content token
    tokens: int = 0
    last_token: float | None = None  # seconds from send to the last content token
    total_s: float = 0.0  # seconds from send to the end of the stream (or to leaving it)
    usage_tokens: int | None = None  # completion_tokens from the usage chunk, when sent
    done: bool = False  # the stream ended with [DONE]
    left: bool = False  # the client hung up on purpose before the end
    error: str | None = None

    @property
    def decode_s(self) -> float | None:
        if self.ttft is None or self.last_token is None or self.tokens < 2:
            return None
        return self.last_token - self.ttft

    @property
    def decode_rate(self) -> float | None:
        """Tokens per second after the first one: generation speed without the prompt's cost."""
        decode = self.decode_s
        return (self.tokens - 1) / decode if decode else None

    def token_arrived(self, now: float) -> None:
        offset = now - self.started
        if self.ttft is None:
            self.ttft = offset
        self.last_token = offset
        self.tokens += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_s": self.ttft,
            "tokens": self.tokens,
            "decode_s": self.decode_s,
            "decode_tokens_per_s": self.decode_rate,
            "total_s": self.total_s,
            "usage_tokens": self.usage_tokens,
            "done": self.done,
            "left": self.left,
            "error": self.error,
        }


def chat_body(model: str, messages: list[dict[str, str]], max_tokens: int, usage: bool = False) -> dict[str, Any]:
    """Greedy decoding (temperature 0), streamed; the same body for every contender."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


async def stream_chat(
    client: httpx.AsyncClient,
    base_url: str,
    body: dict[str, Any],
    *,
    leave_after_tokens: int | None = None,
    timing: StreamTiming | None = None,
) -> StreamTiming:
    """Send one streamed request and read it to the end (or hang up after `leave_after_tokens`).

    Pass `timing` to keep what arrived if the caller cancels this coroutine (a client giving up).
    """
    timing = timing or StreamTiming(started=time.perf_counter())
    try:
        async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                timing.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return timing
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    timing.done = True
                    break
                chunk = json.loads(payload)
                if "error" in chunk:
                    timing.error = f"error event: {chunk['error']}"
                    break
                choices = chunk.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    timing.token_arrived(time.perf_counter())
                    if leave_after_tokens is not None and timing.tokens >= leave_after_tokens:
                        timing.left = True
                        break
                if chunk.get("usage"):
                    timing.usage_tokens = chunk["usage"].get("completion_tokens")
    except (httpx.HTTPError, ValueError) as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    finally:
        timing.total_s = time.perf_counter() - timing.started
    return timing
