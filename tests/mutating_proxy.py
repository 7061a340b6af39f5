"""A test-only proxy that serves the real reference server's answers, altered to break one rule.

Each mutation lives under its own URL prefix (`http://127.0.0.1:PORT/<name>/v1`), so one proxy
serves every mutation of a test session and runs never interfere. The proxy forwards the request
(optionally rewritten), then rewrites the real answer: its JSON body, its stream events, its raw
bytes, or replaces it outright (an error status, a hang, an endless stream).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conformance.serving import serving_in_thread

DONE = "[DONE]"
EVENT = "__event__"  # an event's `event:` name, kept on its dict while mutations run


@dataclass
class Ctx:
    """The request as the client sent it."""

    method: str
    path: str  # below /v1, e.g. /chat/completions
    json: Any
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    in_flight: int = 0  # other requests the proxy was handling when this one arrived

    @property
    def sdk_lang(self) -> str:
        """Which official SDK sent the request ("python", "js"), from its X-Stainless-Lang header."""
        return self.headers.get("x-stainless-lang", "")

    def param(self, name: str, default: Any = None) -> Any:
        return self.json.get(name, default) if isinstance(self.json, dict) else default

    @property
    def chat(self) -> bool:
        return self.method == "POST" and self.path == "/chat/completions"

    @property
    def stream(self) -> bool:
        return self.param("stream") is True


@dataclass
class Mutation:
    when: Callable[[Ctx], bool] = lambda ctx: True
    request: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # rewrite the request JSON
    body: Callable[[Any, Ctx], Any] | None = None  # rewrite a non-streamed JSON answer
    events: Callable[[list[Any], Ctx], list[Any]] | None = None  # rewrite stream events (dicts and DONE)
    raw: Callable[[str], str] | None = None  # rewrite the serialized stream text
    respond: Callable[[Ctx], Any] | None = None  # answer instead of the server (may be async)
    content_type: str | None = None
    statuses: tuple[int, ...] = (200,)  # answers `body` and `events` apply to


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serialize(events: list[Any]) -> str:
    def one(e: Any) -> str:
        if isinstance(e, dict) and EVENT in e:
            e = dict(e)
            return f"event: {e.pop(EVENT)}\ndata: {json.dumps(e)}\n\n"
        return f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n"

    return "".join(one(e) for e in events)


def _parse_events(text: str) -> list[Any]:
    out: list[Any] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        data = "\n".join(line[5:].lstrip(" ") for line in lines if line.startswith("data:"))
        if not data:
            continue
        event = DONE if data == DONE else json.loads(data)
        name = next((line[6:].lstrip(" ") for line in lines if line.startswith("event:")), None)
        out.append({EVENT: name, **event} if name is not None and isinstance(event, dict) else event)
    return out


def build_app(upstream: str, mutations: dict[str, Mutation]) -> Starlette:
    client = httpx.AsyncClient(timeout=120)
    in_flight = [0]

    async def handle(request: Request) -> Response:
        in_flight[0] += 1
        try:
            return await forward(request, in_flight[0] - 1)
        finally:
            in_flight[0] -= 1

    async def forward(request: Request, others: int) -> Response:
        name, _, rest = request.path_params["path"].partition("/")
        mutation = mutations.get(name)
        if mutation is None or not rest.startswith("v1"):
            return Response(f"no mutation {name!r}", status_code=599)
        raw_body = await request.body()
        try:
            parsed = json.loads(raw_body) if raw_body else None
        except ValueError:
            parsed = None
        ctx = Ctx(method=request.method, path=rest[2:] or "/", json=parsed, headers=dict(request.headers), in_flight=others)
        active = mutation.when(ctx)
        if active and mutation.respond is not None:
            answer = mutation.respond(ctx)
            return await answer if inspect.isawaitable(answer) else answer
        if active and mutation.request is not None and isinstance(parsed, dict):
            raw_body = json.dumps(mutation.request(dict(parsed))).encode()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        url = f"{upstream}/{rest}" + (f"?{request.url.query}" if request.url.query else "")
        answer = await client.request(request.method, url, content=raw_body, headers=headers)
        content_type = answer.headers.get("content-type", "application/json")
        text = answer.text
        rewrite = active and answer.status_code in mutation.statuses
        if rewrite and content_type.startswith("text/event-stream"):
            events = _parse_events(text)
            if mutation.events is not None:
                events = mutation.events(events, ctx)
            text = _serialize(events)
            if mutation.raw is not None:
                text = mutation.raw(text)
        elif rewrite and mutation.body is not None and content_type.startswith("application/json"):
            text = json.dumps(mutation.body(json.loads(text), ctx))
        if active and mutation.content_type:
            content_type = mutation.content_type
        return Response(text, status_code=answer.status_code, media_type=None, headers={"content-type": content_type})

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "DELETE", "PUT"])])


@dataclass
class RunningProxy:
    port: int

    def base_url(self, mutation: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mutation}/v1"


@contextmanager
def running_proxy(upstream_base_url: str, mutations: dict[str, Mutation]) -> Iterator[RunningProxy]:
    """Serve `mutations` in front of `upstream_base_url` (which ends in /v1) on a free loopback port."""
    upstream = upstream_base_url.removesuffix("/v1")
    port = _free_port()
    config = uvicorn.Config(
        build_app(upstream, mutations),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    with serving_in_thread(uvicorn.Server(config), what="mutating proxy"):
        yield RunningProxy(port=port)


# --- answers that replace the server's -------------------------------------------------------------


def error(status: int, body: Any, content_type: str = "application/json") -> Callable[[Ctx], Response]:
    text = body if isinstance(body, str) else json.dumps(body)
    return lambda ctx: Response(text, status_code=status, headers={"content-type": content_type})


def hang_after_first_chunk(ctx: Ctx) -> Response:
    async def body() -> AsyncIterator[bytes]:
        first = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}  # fmt: skip
        yield f"data: {json.dumps(first)}\n\n".encode()
        await asyncio.sleep(3600)

    return StreamingResponse(body(), media_type="text/event-stream")


def endless_stream(ctx: Ctx) -> Response:
    async def body() -> AsyncIterator[bytes]:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "la "}, "finish_reason": None}]}  # fmt: skip
        line = f"data: {json.dumps(chunk)}\n\n".encode()
        while True:
            yield line * 50
            await asyncio.sleep(0.01)

    return StreamingResponse(body(), media_type="text/event-stream")


async def hang_before_headers(ctx: Ctx) -> Response:
    await asyncio.sleep(3600)
    return Response(status_code=504)


def drop_connection(ctx: Ctx) -> Response:
    """Headers, then the connection closes mid-body: what a server that crashed on a neighbour does."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"id": "'
        raise ConnectionResetError("the mutating proxy drops this connection")

    return StreamingResponse(body(), media_type="application/json")


def first_time_only(applies: Callable[[Ctx], bool]) -> Callable[[Ctx], bool]:
    """A `when` that holds the first time each distinct request arrives, and never again."""
    seen: set[str] = set()

    def when(ctx: Ctx) -> bool:
        key = f"{ctx.method} {ctx.path} {json.dumps(ctx.json, sort_keys=True)}"
        if key in seen:
            return False
        seen.add(key)
        return applies(ctx)

    return when
