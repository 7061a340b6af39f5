"""Single-stream speed: the reference server against llama-cpp-python in-process and its own server.

All contenders are loaded at once and measured in interleaved rounds (each round runs every prompt on
every contender, in a rotating order), so a burst of load from another process hits all of them alike
and each round yields side-by-side ratios. A round's figure per contender is its decode rate over all
its tokens after the first (prompt cost excluded).

Time to first token is measured separately, on many short requests (2 tokens), prompts in rotation
and contenders interleaved in a rotating order, so each sample has a partner measured moments apart
under the same conditions: the overhead is the median of the paired differences. (The TTFTs of the
long answers are kept in results.json too, but 15 samples of a ~150 ms quantity on a shared machine are
too few to resolve a few milliseconds.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.settings import Settings
from bench.stats import ratios, summary
from bench.streaming import StreamTiming, chat_body, stream_chat

StreamFn = Callable[[list[dict[str, str]], int], StreamTiming]


@dataclass
class Contender:
    name: str
    stream: StreamFn


class HttpContenders:
    """Streamed HTTP clients on one event loop, one keep-alive connection pool per server."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._clients: list[httpx.AsyncClient] = []

    def contender(self, name: str, base_url: str, model: str, *, usage: bool) -> Contender:
        client = httpx.AsyncClient(timeout=httpx.Timeout(600.0))
        self._clients.append(client)

        def stream(messages: list[dict[str, str]], max_tokens: int) -> StreamTiming:
            body = chat_body(model, messages, max_tokens, usage=usage)
            return self._runner.run(stream_chat(client, base_url, body))

        return Contender(name, stream)

    def close(self) -> None:
        for client in self._clients:
            self._runner.run(client.aclose())
        self._runner.close()


def measure(contenders: list[Contender], settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    budget = settings.single
    for contender in contenders:  # warm-up: first-request costs (allocations, caches) are not the steady state
        contender.stream(settings.messages(0), min(8, budget.max_tokens))
    rates: dict[str, list[float]] = {c.name: [] for c in contenders}
    ttfts: dict[str, list[float]] = {c.name: [] for c in contenders}
    tokens: dict[str, list[int]] = {c.name: [] for c in contenders}
    errors: dict[str, list[str]] = {c.name: [] for c in contenders}
    for round_no in range(budget.rounds):
        shift = round_no % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        timings: dict[str, list[StreamTiming]] = {c.name: [] for c in contenders}
        for prompt in range(budget.prompts):
            for contender in order:
                timing = contender.stream(settings.messages(prompt), budget.max_tokens)
                timings[contender.name].append(timing)
                if timing.error:
                    errors[contender.name].append(timing.error)
        for name, runs in timings.items():
            good = [t for t in runs if not t.error and t.decode_s]
            decoded = sum(t.tokens - 1 for t in good)
            seconds = sum(t.decode_s or 0.0 for t in good)
            rates[name].append(decoded / seconds if seconds else float("nan"))
            ttfts[name].append(1000 * sum(t.ttft or 0.0 for t in good) / len(good) if good else float("nan"))
            if round_no == 0:
                tokens[name] = [t.tokens for t in runs]
        log(
            f"  round {round_no + 1}/{budget.rounds}: "
            + ", ".join(f"{n} {rates[n][-1]:.1f} tok/s ttft {ttfts[n][-1]:.1f} ms" for n in rates)
        )
    samples = _ttft_samples(contenders, settings)
    out: dict[str, Any] = {
        "prompts": budget.prompts,
        "max_tokens": budget.max_tokens,
        "rounds": budget.rounds,
        "ttft_samples": budget.ttft_samples,
        "contenders": {
            name: {
                "decode_tokens_per_s": summary(rates[name]),
                "ttft_ms": summary(samples[name], digits=2),
                "ttft_ms_long_answers": summary(ttfts[name]),
                "tokens_per_answer": tokens[name],
                "errors": errors[name],
            }
            for name in rates
        },
        "ratios": {},
    }
    ref = "reference"
    for other in (n for n in rates if n != ref):
        out["ratios"][f"decode_vs_{other}"] = summary(ratios(rates[ref], rates[other]))
        out["ratios"][f"ttft_vs_{other}"] = summary(ratios(samples[ref], samples[other]))
        out["ratios"][f"ttft_overhead_ms_vs_{other}"] = summary(
            [a - b for a, b in zip(samples[ref], samples[other], strict=True)], digits=2
        )
    return out


def _ttft_samples(contenders: list[Contender], settings: Settings) -> dict[str, list[float]]:
    """Milliseconds to the first content token of short requests; index i is one interleaved sample."""
    out: dict[str, list[float]] = {c.name: [] for c in contenders}
    for i in range(settings.single.ttft_samples):
        shift = i % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            timing = contender.stream(settings.messages(i), 2)
            out[contender.name].append(1000 * timing.ttft if timing.ttft is not None and not timing.error else float("nan"))
    return out
