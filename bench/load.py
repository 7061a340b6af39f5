"""The reference server under load: many concurrent streams, and clients that hang up mid-stream.

The engine runs one generation at a time, so N clients cannot finish sooner than N answers in a row;
what matters is that all of them complete without errors, that throughput holds up (aggregate tokens/s
close to the single-stream rate) and how long the last client waits for its first token.

A client that disconnects must free the engine at once: after a crowd of clients asks for long answers
and hangs up, a short follow-up request should take no longer than on an idle server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.settings import Settings
from bench.stats import percentile, ratios, summary
from bench.streaming import StreamTiming, chat_body, stream_chat


async def _crowd(base_url: str, model: str, settings: Settings, clients: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as client:
        started = time.perf_counter()
        timings = await asyncio.gather(
            *(
                stream_chat(client, base_url, chat_body(model, settings.messages(i), settings.load.max_tokens, usage=True))
                for i in range(clients)
            )
        )
        wall = time.perf_counter() - started
    ttfts = [t.ttft for t in timings if t.ttft is not None]
    return {
        "wall_s": wall,
        "completed": sum(1 for t in timings if t.done and not t.error),
        "errors": [t.error for t in timings if t.error],
        "tokens": sum(t.tokens for t in timings),
        "aggregate_tokens_per_s": sum(t.tokens for t in timings) / wall,
        "ttft_p50_ms": 1000 * percentile(ttfts, 50),
        "ttft_p99_ms": 1000 * percentile(ttfts, 99),
    }


async def _one_by_one(base_url: str, model: str, settings: Settings, requests: int) -> float:
    """Tokens/s of the crowd's first `requests` requests sent one after another by a single client."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0)) as client:
        started = time.perf_counter()
        tokens = 0
        for i in range(requests):
            body = chat_body(model, settings.messages(i), settings.load.max_tokens, usage=True)
            tokens += (await stream_chat(client, base_url, body)).tokens
        return tokens / (time.perf_counter() - started)


def measure_load(base_url: str, model: str, settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Each run sends requests one by one from a single client, then from each crowd size at once.

    The lone client's tokens/s (same prompts in the same order, prompt cost included, like the crowd's)
    is the yardstick: a crowd served one job at a time should reach the same aggregate rate, not more
    and not much less.
    """
    sequential = min(settings.load.clients)
    solo: list[float] = []
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in settings.load.clients}
    for run in range(settings.load.runs):
        solo.append(asyncio.run(_one_by_one(base_url, model, settings, sequential)))
        log(f"  {sequential} requests one by one, run {run + 1}: {solo[-1]:.1f} tok/s")
        for clients in settings.load.clients:
            result = asyncio.run(_crowd(base_url, model, settings, clients))
            runs[clients].append(result)
            log(
                f"  {clients} clients, run {run + 1}: {result['completed']}/{clients} complete, "
                f"{len(result['errors'])} errors, {result['aggregate_tokens_per_s']:.1f} tok/s, "
                f"ttft p50 {result['ttft_p50_ms']:.0f} ms p99 {result['ttft_p99_ms']:.0f} ms"
            )
    out: dict[str, Any] = {
        "max_tokens": settings.load.max_tokens,
        "runs": settings.load.runs,
        "one_by_one_requests": sequential,
        "one_by_one_tokens_per_s": summary(solo),
        "clients": {},
    }
    for clients in settings.load.clients:
        done = runs[clients]
        rates = [r["aggregate_tokens_per_s"] for r in done]
        out["clients"][str(clients)] = {
            "all_completed": all(r["completed"] == clients for r in done),
            "errors": [e for r in done for e in r["errors"]],
            "aggregate_tokens_per_s": summary(rates),
            "aggregate_vs_one_by_one": summary(ratios(rates, solo)),
            "ttft_p50_ms": summary([r["ttft_p50_ms"] for r in done], digits=1),
            "ttft_p99_ms": summary([r["ttft_p99_ms"] for r in done], digits=1),
            "wall_s": summary([r["wall_s"] for r in done], digits=3),
        }
    return out


async def _followup(client: httpx.AsyncClient, base_url: str, model: str, settings: Settings, tag: str) -> float:
    """Latency of a short streamed request, read to its end.

    Both follow-ups come after one of the leavers' prompts, with which they share only the chat
    template, so the prompt cache helps the idle baseline and the follow-up alike.
    """
    messages = [{"role": "user", "content": f"Reply with one word. Request {tag}"}]
    body = chat_body(model, messages, settings.disconnect.followup_max_tokens)
    timing = await stream_chat(client, base_url, body)
    if timing.error or not timing.done:
        raise RuntimeError(f"follow-up request failed: {timing.error or 'stream did not end'}")
    return timing.total_s


async def _leaver(client: httpx.AsyncClient, base_url: str, body: dict[str, Any], patience: float) -> StreamTiming:
    """Hang up after the first token, or after `patience` seconds still waiting for it (queued)."""
    timing = StreamTiming(started=time.perf_counter())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stream_chat(client, base_url, body, leave_after_tokens=1, timing=timing), patience)
    timing.left = timing.left or not timing.done
    return timing


async def _disconnect_run(base_url: str, model: str, settings: Settings) -> dict[str, Any]:
    budget = settings.disconnect
    limits = httpx.Limits(max_connections=budget.clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as client:
        # Leave a leaver's prompt in the cache first, as the leavers will before the second follow-up.
        await stream_chat(client, base_url, chat_body(model, settings.messages(0), 1))
        idle = await _followup(client, base_url, model, settings, "A")
        bodies = [chat_body(model, settings.messages(i), budget.max_tokens) for i in range(budget.clients)]
        leavers = await asyncio.gather(*(_leaver(client, base_url, b, budget.patience_s) for b in bodies))
        after = await _followup(client, base_url, model, settings, "B")
        healthy = (await client.get(f"{base_url}/models")).status_code == 200
    return {
        "idle_followup_s": idle,
        "after_disconnects_followup_s": after,
        "left_mid_stream": sum(1 for t in leavers if t.left and t.tokens),
        "left_while_queued": sum(1 for t in leavers if t.left and not t.tokens),
        "finished_anyway": sum(1 for t in leavers if t.done),
        "healthy": healthy,
    }


def measure_disconnects(base_url: str, model: str, settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    runs = []
    for run in range(settings.disconnect.runs):
        result = asyncio.run(_disconnect_run(base_url, model, settings))
        runs.append(result)
        log(
            f"  disconnect run {run + 1}: {result['left_mid_stream']} left mid-stream, "
            f"{result['left_while_queued']} while queued; follow-up {1000 * result['after_disconnects_followup_s']:.0f} ms "
            f"(idle {1000 * result['idle_followup_s']:.0f} ms), healthy {result['healthy']}"
        )
    return {
        "clients": settings.disconnect.clients,
        "max_tokens_asked": settings.disconnect.max_tokens,
        "patience_s": settings.disconnect.patience_s,
        "healthy_after_every_run": all(r["healthy"] for r in runs),
        "left_mid_stream": [r["left_mid_stream"] for r in runs],
        "left_while_queued": [r["left_while_queued"] for r in runs],
        "idle_followup_ms": summary([1000 * r["idle_followup_s"] for r in runs], digits=1),
        "after_disconnects_followup_ms": summary([1000 * r["after_disconnects_followup_s"] for r in runs], digits=1),
        "followup_slowdown": summary([r["after_disconnects_followup_s"] / r["idle_followup_s"] for r in runs]),
    }
