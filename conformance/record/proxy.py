"""The recording proxy: forwards every call to the upstream API and records it once it has completed.

The application talks to the proxy exactly as it would to the upstream (its base_url points here),
so the calls recorded are the application's real ones. Bytes are relayed as they arrive, so a
streamed answer reaches the application token by token; the call is recorded after the last byte,
and a call the application abandoned midway is reported but not recorded (its answer is partial).
The application's credentials go on to the upstream but never into the cassette (cassette.py).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.record.cassette import Cassette, RecordedCall
from conformance.serving import serving_in_thread

# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the HTTP client recomputes for the next hop.
_NOT_FORWARDED = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding",
}  # fmt: skip
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class Recorder:
    """Numbers calls in the order they arrive, records the completed ones, says so in one line each."""

    def __init__(self, upstream: str, cassette: Cassette, say: Callable[[str], None]) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = urlsplit(self.upstream).path.rstrip("/")  # "/v1"
        self.cassette = cassette
        self.say = say
        self.not_recorded = 0
        self._seq = 0
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def relative(self, path: str) -> str:
        """The path below the API root, whether the app's base_url mirrors the upstream's /v1 or not."""
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix) :]
        return path or "/"

    def record(self, call: RecordedCall) -> None:
        label = f"#{call.seq} {call.method} {call.path.split('?')[0]}{' (stream)' if call.stream_requested else ''}"
        if call.status >= 500:
            self.skip(
                f"{label} -> HTTP {call.status}: not recorded (a server error is nothing to compare with)"
            )
            return
        try:
            case = self.cassette.add(call)
        except Exception as exc:  # a call we cannot turn into a case must not stop the recording
            self.skip(f"{label} -> HTTP {call.status}: not recorded ({type(exc).__name__}: {exc})")
            return
        self.say(f"{label} -> HTTP {call.status}, recorded as {case['id']}")

    def skip(self, line: str) -> None:
        with self._lock:
            self.not_recorded += 1
        self.say(line)


def build_app(recorder: Recorder, timeout: float = 600.0) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    async def forward(request: Request) -> Response:
        seq = recorder.next_seq()
        body = await request.body()
        path = recorder.relative(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        headers["accept-encoding"] = "identity"  # the recording needs the text; loopback needs no gzip
        try:
            upstream = await client.send(
                client.build_request(request.method, recorder.upstream + path, headers=headers, content=body),
                stream=True,
            )
        except httpx.HTTPError as exc:
            recorder.skip(
                f"#{seq} {request.method} {path}: upstream failed ({type(exc).__name__}: {exc}); not recorded"
            )
            message = f"conformance record: the upstream {recorder.upstream} failed: {type(exc).__name__}"
            envelope = {"error": {"message": message, "type": "upstream_error", "param": None, "code": None}}
            return JSONResponse(envelope, status_code=502)
        response_headers = {k.lower(): v for k, v in upstream.headers.items()}

        async def relay() -> AsyncIterator[bytes]:
            received = bytearray()
            complete = False
            try:
                async for chunk in upstream.aiter_raw():
                    received.extend(chunk)
                    yield chunk
                complete = True
            finally:
                call = RecordedCall(
                    seq=seq,
                    method=request.method,
                    path=path,
                    request_headers=dict(request.headers),
                    request_body=body,
                    status=upstream.status_code,
                    response_headers=response_headers,
                    response_body=bytes(received),
                )
                if complete:
                    recorder.record(call)
                else:
                    recorder.skip(
                        f"#{seq} {request.method} {path}: the app left before the answer ended; not recorded"
                    )
                with anyio.CancelScope(shield=True):  # the app left: hang up on the upstream too
                    await upstream.aclose()

        passed = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED}
        return StreamingResponse(relay(), status_code=upstream.status_code, headers=passed)

    return Starlette(routes=[Route("/{path:path}", forward, methods=_METHODS)], lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts so a busy port is our error, not uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, not when uvicorn gets round to it: the address is printed at once, and an
        # application that connects before the server is up waits in the backlog instead of being refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def server_for(recorder: Recorder) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(recorder), log_level="warning", lifespan="on", timeout_graceful_shutdown=3, access_log=False
    )
    return uvicorn.Server(config)


@contextmanager
def running_recorder(
    upstream: str, out: Path, say: Callable[[str], None] = lambda line: None
) -> Iterator[str]:
    """Record in a background thread (for tests and notebooks); yields the base_url to give the app."""
    recorder = Recorder(upstream, Cassette(out, upstream), say)
    recorder.cassette.write()
    sock = bind("127.0.0.1", 0)
    try:
        with serving_in_thread(server_for(recorder), sock, what="the recording proxy"):
            yield f"http://127.0.0.1:{sock.getsockname()[1]}{recorder.prefix}"
    finally:
        sock.close()
