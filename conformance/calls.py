"""Make one call of a step, through the official SDK or raw httpx, and keep every byte that came back.

SDK calls use the `openai` package exactly as an application would, with strict response validation
switched on: if the SDK's own types reject an answer, that is a finding. Underneath, a capturing
transport keeps the raw request and response bytes, so framing can be judged and the evidence shown
even when the SDK hides or rejects them. Raw calls (httpx) are for what the SDK cannot send.

An outcome is registered with the caller before any I/O, so when a case times out mid-stream its
partial answer is still there to show.
"""

from __future__ import annotations

import gzip
import inspect
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import openai
import openai._models as openai_models  # validate_type: the SDK's own strict validation
import pydantic
from pydantic import ValidationError

from conformance import strict_json
from conformance.results import Exchange
from conformance.sse import ASSEMBLERS, ParsedStream
from conformance.sse import parse as parse_sse

MAX_BODY_BYTES = 4 * 1024 * 1024  # an answer beyond this is an endless stream, not a chat completion
_EXCERPT_CHARS = 6000
_REQUEST_BODY_CHARS = 4000


class BodyTooLarge(Exception):
    pass


@dataclass
class CallOutcome:
    label: str
    via: str  # "sdk" or "httpx"
    method: str = ""
    url: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: Any = None  # what went over the wire
    params: Any = None  # what the case asked for (SDK params or the raw request's JSON)
    stream_requested: bool = False
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    transport_error: str | None = None
    sdk_error: str | None = None  # the SDK rejected a 2xx answer (strict validation, bad event)
    # Only the strict validation (which the harness turns on to see schema breaks) rejected it: the
    # SDK as applications use it (no validation) reads the answer, so it is a spec violation, not a break.
    sdk_strict_only: bool = False
    _stream: ParsedStream | None = None
    _decoded: str | None = None

    @property
    def duration(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def text(self) -> str:
        if self._decoded is None:
            self._decoded = _decode(bytes(self.body), self.response_headers.get("content-encoding", ""))
        return self._decoded

    @property
    def is_stream(self) -> bool:
        """An event stream, or what was meant to be one; an error refusing a stream is plain JSON."""
        content_type = self.response_headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            return True
        return self.stream_requested and (self.status is None or self.status < 400)

    @property
    def stream(self) -> ParsedStream | None:
        if not self.is_stream or self.status is None:
            return None
        if self._stream is None:
            self._stream = parse_sse(self.text)
        return self._stream

    def body_json(self) -> tuple[bool, Any]:
        try:
            return True, strict_json.loads(self.text)
        except ValueError:
            return False, None

    @property
    def json_error(self) -> str:
        """Why the body is not JSON (RFC 8259: NaN and Infinity included), or "" when it is."""
        try:
            strict_json.loads(self.text)
        except ValueError as exc:
            return str(exc)
        return ""

    def view(self, endpoint: str) -> dict[str, Any]:
        """What expectations and later steps see of this answer."""
        is_json, body = (False, None) if self.is_stream else self.body_json()
        out: dict[str, Any] = {
            "status": self.status,
            "headers": dict(self.response_headers),
            "text": self.text,
            "body": body,
            "is_json": is_json,
            "request": self.params if self.params is not None else self.request_body,
            "duration": round(self.duration, 3),
        }
        stream = self.stream
        if stream is not None:
            out["events"] = [{"event": e.event, "data": e.data} for e in stream.events]
            out["chunks"] = stream.chunks
            assembler = ASSEMBLERS.get(endpoint)
            out["assembled"] = assembler(stream.chunks) if assembler else None
        return out

    def exchange(self) -> Exchange:
        """The evidence record (secrets are scrubbed later, over the whole case result)."""
        text = self.text
        if len(text) > _EXCERPT_CHARS:
            head = _EXCERPT_CHARS * 2 // 3
            tail = _EXCERPT_CHARS - head
            text = f"{text[:head]}\n... [{len(text) - head - tail} characters left out] ...\n{text[-tail:]}"
        return Exchange(
            label=self.label,
            via=self.via,
            method=self.method,
            url=self.url,
            request_headers=self.request_headers,
            request_body=_trim_request(self.request_body),
            status=self.status,
            response_headers=self.response_headers,
            response_excerpt=text,
            duration_s=round(self.duration, 3),
            error=self.transport_error,
        )


def _decode(raw: bytes, encoding: str) -> str:
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
    except (OSError, zlib.error, EOFError):
        pass  # a truncated stream: show what we have
    return raw.decode("utf-8", errors="replace")


def _trim_request(body: Any) -> Any:
    text = json.dumps(body, ensure_ascii=False, default=str) if not isinstance(body, str) else body
    if len(text) <= _REQUEST_BODY_CHARS:
        return body
    return text[:_REQUEST_BODY_CHARS] + f"... [{len(text) - _REQUEST_BODY_CHARS} characters left out]"


# --- SDK calls ---------------------------------------------------------------------------------------


class _TeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, outcome: CallOutcome) -> None:
        self._inner = inner
        self._outcome = outcome

    async def __aiter__(self):  # type: ignore[override]
        async for chunk in self._inner:
            self._outcome.body.extend(chunk)
            if len(self._outcome.body) > MAX_BODY_BYTES:
                raise BodyTooLarge(f"the answer exceeded {MAX_BODY_BYTES // (1024 * 1024)} MB")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CapturingTransport(httpx2.AsyncBaseTransport):
    """Wraps the run's shared connection pool; records this call's request and response bytes."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, outcome: CallOutcome) -> None:
        self._inner = inner
        self._outcome = outcome

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        out = self._outcome
        out.method, out.url = request.method, str(request.url)
        out.request_headers = dict(request.headers.items())
        if request.content:
            try:
                out.request_body = json.loads(request.content)
            except ValueError:
                out.request_body = request.content.decode("utf-8", errors="replace")
        response = await self._inner.handle_async_request(request)
        out.status = response.status_code
        out.response_headers = {k.lower(): v for k, v in response.headers.items()}
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, out),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        """The pool is shared by the whole run and closed by it."""


def resolve_sdk_method(client: Any, dotted: str) -> Any:
    *resource_path, method = dotted.split(".")
    target = client
    for part in resource_path:
        target = getattr(target, part)
    return getattr(target.with_raw_response, method)


def sdk_signature(client: Any, dotted: str) -> inspect.Signature:
    return inspect.signature(resolve_sdk_method(client, dotted))


async def sdk_call(
    outcome: CallOutcome,
    pool: httpx2.AsyncBaseTransport,
    base_url: str,
    api_key: str | None,
    method: str,
    params: dict[str, Any],
    timeout: float,
) -> None:
    outcome.params = params
    outcome.stream_requested = params.get("stream") is True
    try:
        async with httpx2.AsyncClient(transport=_CapturingTransport(pool, outcome)) as http:
            client = openai.AsyncOpenAI(
                api_key=api_key or "no-key",  # the SDK insists on one; keyless servers ignore it
                base_url=base_url,
                http_client=http,
                max_retries=0,  # a retry would hide the very failure we are measuring
                timeout=timeout,
                default_headers={"Accept-Encoding": "identity"},
                # As applications run it: no validation, so a schema nit in one event does not stop
                # the SDK reading the rest of the stream. The strict check follows, on what came back.
                _strict_response_validation=False,
            )
            raw = await resolve_sdk_method(client, method)(**params)
            parsed = raw.parse()
            if isinstance(parsed, openai.AsyncStream):
                async for _ in parsed:
                    pass
                problem = _strict_problem(parsed._cast_to, outcome.stream.chunks if outcome.stream else [])
            else:
                ok, body = outcome.body_json()
                problem = _strict_problem(type(parsed), [body]) if ok and isinstance(parsed, pydantic.BaseModel) else ""
            if problem:
                outcome.sdk_error = f"the openai SDK's strict validation rejects the answer: {problem}"
                outcome.sdk_strict_only = True
    except openai.APIStatusError:
        pass  # a 4xx/5xx: the status and body are in the capture
    except openai.APITimeoutError:
        outcome.transport_error = f"no answer within {timeout:.0f}s"
    except openai.APIConnectionError as exc:
        outcome.transport_error = f"connection failed: {exc.__cause__ or exc}"
    except openai.APIError as exc:
        outcome.sdk_error = f"the openai SDK raised {type(exc).__name__}: {exc.message}"
    except BodyTooLarge as exc:
        outcome.transport_error = str(exc)
    except ValueError as exc:  # json.JSONDecodeError from the SDK's decoders
        outcome.sdk_error = f"the openai SDK could not decode the answer: {exc}"
    finally:
        outcome.finished = time.monotonic()


def _strict_problem(cast_to: Any, values: list[Any]) -> str:
    """What the SDK's strict validation (its own pydantic types) says of each answer or stream event."""
    for index, value in enumerate(values):
        try:
            openai_models.validate_type(type_=cast_to, value=value)
        except ValidationError as exc:
            where = f"event {index}: " if len(values) > 1 else ""
            return where + _errors_summary(exc)
        except (TypeError, ValueError):  # a type the validator cannot build: nothing to say
            return ""
    return ""


def _errors_summary(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:2]]
    more = f" (+{len(errors) - 2} more)" if len(errors) > 2 else ""
    return f"{exc.title}: " + "; ".join(parts) + more


# --- raw HTTP calls ----------------------------------------------------------------------------------


async def http_call(
    outcome: CallOutcome,
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str | None,
    call: dict[str, Any],
    timeout: float,
) -> None:
    headers = {"Accept-Encoding": "identity"}
    if call.get("auth", True) and api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    content: bytes | None = None
    if call.get("body") is not None:
        content = str(call["body"]).encode("utf-8")
        outcome.request_body = call["body"]
    elif call.get("json") is not None:
        content = json.dumps(call["json"]).encode("utf-8")
        headers["Content-Type"] = "application/json"
        outcome.request_body = outcome.params = call["json"]
        outcome.stream_requested = isinstance(call["json"], dict) and call["json"].get("stream") is True
    headers.update({str(k): str(v) for k, v in (call.get("headers") or {}).items()})
    outcome.method = str(call.get("method", "POST")).upper()
    outcome.url = base_url + call["path"]
    outcome.request_headers = headers
    try:
        request = client.build_request(outcome.method, outcome.url, headers=headers, content=content, timeout=timeout)
        response = await client.send(request, stream=True)
        try:
            outcome.status = response.status_code
            outcome.response_headers = {k.lower(): v for k, v in response.headers.items()}
            async for chunk in response.aiter_raw():
                outcome.body.extend(chunk)
                if len(outcome.body) > MAX_BODY_BYTES:
                    raise BodyTooLarge(f"the answer exceeded {MAX_BODY_BYTES // (1024 * 1024)} MB")
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        outcome.transport_error = f"no answer within {timeout:.0f}s"
    except httpx.HTTPError as exc:
        outcome.transport_error = f"connection failed: {type(exc).__name__}: {exc}"
    except BodyTooLarge as exc:
        outcome.transport_error = str(exc)
    finally:
        outcome.finished = time.monotonic()
