"""Fuzzing catches what it claims to: a proxy in front of the real reference server breaks one rule
at a time (500 for bad input, non-envelope errors, invalid bodies and chunks, wrong content type,
accepting invalid or refusing valid requests, hanging), and the fuzz run reports exactly that, with
a curl command that replays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import shlex
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import uvicorn

from conformance.fuzz.overlay import Mode
from conformance.fuzz.report import html_section, junit_testsuite, markdown_section
from conformance.fuzz.results import FuzzCheck, FuzzResults, FuzzVerdict
from conformance.fuzz.runner import run_fuzz
from conformance.serving import serving_in_thread
from reference_server.launcher import RunningServer, free_port


@dataclass
class Exchange:
    method: str
    path: str  # below /v1, e.g. /models
    request: object  # parsed JSON body, or None
    status: int
    headers: dict[str, str]
    body: bytes


# A fault sees the real exchange and returns it altered (or unchanged). `delay` makes it slow.
Fault = Callable[[Exchange], Exchange]


@dataclass
class FaultProxy:
    """Forwards everything to the real server, then lets `fault` rewrite the answer."""

    upstream: str  # the real server's base URL, ending in /v1
    fault: Fault
    delay: Callable[[Exchange], float] = lambda _: 0.0
    add_headers: Callable[[dict], dict] = lambda headers: headers  # rewrite the request headers
    seen: list[Exchange] = field(default_factory=list)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"].removeprefix("/v1")
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").removeprefix("/v1")
        query = scope.get("query_string", b"").decode()
        headers = self.add_headers(
            {
                k.decode(): v.decode()
                for k, v in scope["headers"]
                if k.decode() not in ("host", "content-length")
            }
        )
        async with httpx.AsyncClient(timeout=60) as client:
            upstream = await client.request(
                scope["method"],
                self.upstream + raw_path + (f"?{query}" if query else ""),
                content=body,
                headers=headers,
            )
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        exchange = Exchange(
            method=scope["method"],
            path=path,
            request=parsed,
            status=upstream.status_code,
            headers={"content-type": upstream.headers.get("content-type", "")},
            body=upstream.content,
        )
        self.seen.append(exchange)
        altered = self.fault(exchange)
        pause = self.delay(exchange)
        if pause:
            await asyncio.sleep(pause)
        await send(
            {
                "type": "http.response.start",
                "status": altered.status,
                "headers": [(k.encode(), v.encode()) for k, v in altered.headers.items() if v],
            }
        )
        await send({"type": "http.response.body", "body": altered.body})


@contextlib.contextmanager
def serving(app: FaultProxy) -> Iterator[str]:
    """Run the proxy on a free loopback port; yields its base URL (ending in /v1)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    with serving_in_thread(server, what="fault proxy"):
        yield f"http://127.0.0.1:{port}/v1"


def fuzz(
    server: RunningServer, fault: Fault, endpoint: str, **kwargs: object
) -> tuple[FuzzResults, FaultProxy]:
    proxy = FaultProxy(
        server.base_url, fault, **{k: kwargs.pop(k) for k in ("delay", "add_headers") if k in kwargs}
    )
    options: dict = {
        "max_examples": 5,
        "seed": 1,
        "coverage": False,
        "request_timeout": 10.0,
        "timeout": 120.0,
    }
    options.update(kwargs)
    with serving(proxy) as base_url:
        results = run_fuzz(base_url, endpoints=[endpoint], **options)
    return results, proxy


def findings(results: FuzzResults) -> set[str]:
    return {f.check for e in results.endpoints for f in e.failures}


def replace(exchange: Exchange, **changes: object) -> Exchange:
    return Exchange(**{**exchange.__dict__, **changes})


def json_body(exchange: Exchange, body: object) -> Exchange:
    return replace(exchange, body=json.dumps(body).encode(), headers={"content-type": "application/json"})


def is_error(exchange: Exchange) -> bool:
    return exchange.status >= 400


# --- faults ------------------------------------------------------------------------------------


def errors_become_500(exchange: Exchange) -> Exchange:
    return replace(exchange, status=500) if is_error(exchange) else exchange


def errors_lose_envelope(exchange: Exchange) -> Exchange:
    if not is_error(exchange):
        return exchange
    message = json.loads(exchange.body)["error"]["message"]
    return json_body(exchange, {"detail": message})  # FastAPI's default shape


def list_loses_object(exchange: Exchange) -> Exchange:
    if exchange.status != 200:
        return exchange
    body = json.loads(exchange.body)
    body.pop("object")
    return json_body(exchange, body)


def list_as_text(exchange: Exchange) -> Exchange:
    return replace(exchange, headers={"content-type": "text/plain"})


def unknown_model_accepted(exchange: Exchange) -> Exchange:
    if exchange.status != 404:
        return exchange
    model_id = exchange.path.rsplit("/", 1)[-1]
    return json_body(
        replace(exchange, status=200), {"id": model_id, "object": "model", "created": 0, "owned_by": "x"}
    )


def served_model_refused(exchange: Exchange) -> Exchange:
    if exchange.status != 200 or not exchange.path.startswith("/models/"):
        return exchange
    envelope = {"error": {"message": "nope", "type": "invalid_request_error", "param": None, "code": None}}
    return json_body(replace(exchange, status=400), envelope)


def errors_become_418(exchange: Exchange) -> Exchange:
    return replace(exchange, status=418) if is_error(exchange) else exchange


def chunks_lose_id(exchange: Exchange) -> Exchange:
    if exchange.status != 200 or not exchange.headers["content-type"].startswith("text/event-stream"):
        return exchange
    lines = []
    for line in exchange.body.decode().split("\n"):
        if line.startswith("data: {"):
            chunk = json.loads(line.removeprefix("data: "))
            chunk.pop("id")
            line = "data: " + json.dumps(chunk)
        lines.append(line)
    return replace(exchange, body="\n".join(lines).encode())


def untouched(exchange: Exchange) -> Exchange:
    return exchange


CANNED_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": None,
            "message": {"role": "assistant", "content": "ok", "refusal": None},
        },
    ],
}


def coerces_numeric_strings(exchange: Exchange) -> Exchange:
    """A lenient parser: a number or boolean spelled as a string is taken (here: answered 200)."""
    body = exchange.request if isinstance(exchange.request, dict) else {}
    coerced = [k for k, v in body.items() if v in ("true", "false") or _is_number(v)]
    if exchange.status == 400 and coerced:
        return json_body(replace(exchange, status=200), CANNED_COMPLETION)
    return exchange


def _is_number(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


# --- tests -------------------------------------------------------------------------------------


def test_500_for_bad_input_is_caught_with_a_replayable_curl(server: RunningServer) -> None:
    results, _ = fuzz(server, errors_become_500, "models.retrieve")
    (endpoint,) = results.endpoints
    assert endpoint.verdict is FuzzVerdict.FAIL
    server_errors = [f for f in endpoint.failures if f.check == FuzzCheck.SERVER_ERROR]
    assert server_errors and {f.mode for f in server_errors} == {"negative"}
    failure = server_errors[0]
    assert failure.status == 500 and failure.curl.startswith("curl -X GET")
    # The curl command reproduces it against the same (faulty) server.
    with serving(FaultProxy(server.base_url, errors_become_500)) as base_url:
        port = base_url.split(":")[2].split("/")[0]
        argv = shlex.split(failure.curl.replace(failure.url.split("/v1")[0], f"http://127.0.0.1:{port}"))
        replay = subprocess.run(
            [*argv, "-s", "-o", "/dev/null", "-w", "%{http_code}"], capture_output=True, text=True
        )
    assert replay.stdout == "500"


def test_non_envelope_errors_are_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, errors_lose_envelope, "models.retrieve")
    (endpoint,) = results.endpoints
    assert findings(results) == {FuzzCheck.ERROR_ENVELOPE}
    assert "detail" in endpoint.failures[0].response_excerpt


def test_invalid_body_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, list_loses_object, "models.list")
    (failure,) = results.endpoints[0].failures
    assert failure.check == FuzzCheck.RESPONSE_SCHEMA and failure.mode == "positive"
    assert "object" in failure.message


def test_wrong_content_type_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, list_as_text, "models.list")
    assert FuzzCheck.CONTENT_TYPE in findings(results)


def test_accepting_an_invalid_request_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, unknown_model_accepted, "models.retrieve")
    assert findings(results) == {FuzzCheck.ACCEPTED_INVALID}


def test_refusing_a_valid_request_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, served_model_refused, "models.retrieve")
    assert FuzzCheck.REJECTED_VALID in findings(results)
    assert {f.mode for f in results.endpoints[0].failures} == {"positive"}


def test_undocumented_error_status_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(server, errors_become_418, "models.retrieve")
    assert FuzzCheck.STATUS_CODE in findings(results)


def test_a_hang_is_a_finding_not_a_hung_run(server: RunningServer) -> None:
    started = time.monotonic()
    results, _ = fuzz(
        server, untouched, "models.list", delay=lambda _: 1.5, request_timeout=0.5, max_examples=2
    )
    assert time.monotonic() - started < 60
    (failure,) = results.endpoints[0].failures
    assert failure.check == FuzzCheck.TIMEOUT and failure.curl.startswith("curl")


def test_invalid_stream_chunks_are_caught(server: RunningServer) -> None:
    results, proxy = fuzz(server, chunks_lose_id, "chat.completions", max_examples=8, modes=(Mode.POSITIVE,))
    assert any(e.headers["content-type"].startswith("text/event-stream") for e in proxy.seen)
    failures = [f for f in results.endpoints[0].failures if f.check == FuzzCheck.RESPONSE_SCHEMA]
    assert failures and "CreateChatCompletionStreamResponse" in failures[0].message
    assert failures[0].request_body["stream"] is True


def test_same_seed_same_requests(server: RunningServer) -> None:
    """Even where the server's answers differ run to run (sampled text), the requests do not."""
    runs = [
        fuzz(
            server,
            untouched,
            "chat.completions",
            seed=42,
            max_examples=3,
            modes=(Mode.POSITIVE, Mode.NEGATIVE),
        )[1]
        for _ in range(2)
    ]
    first, second = (
        [(e.method, e.path, json.dumps(e.request), e.status < 300) for e in proxy.seen] for proxy in runs
    )
    assert first == second
    assert sum(ok for *_, ok in first) > 2 and sum(not ok for *_, ok in first) > 2


def test_a_server_coercing_numeric_strings_is_caught(server: RunningServer) -> None:
    results, _ = fuzz(
        server, coerces_numeric_strings, "chat.completions", max_examples=5, modes=(Mode.COERCION,)
    )
    (failure,) = results.endpoints[0].failures
    assert failure.check == FuzzCheck.ACCEPTED_INVALID and failure.mode == "negative"
    assert "as the string" in failure.message
    # Shrunk to a minimal request: the model, one message, the cap, and the coerced parameter.
    assert set(failure.request_body) <= {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
    }


def _inject_key(key: str) -> Callable[[dict], dict]:
    return lambda headers: {**headers, "authorization": f"Bearer {key}"}


def test_a_keyed_server_is_fuzzed_with_its_key_and_the_key_never_leaks(keyed_server: RunningServer) -> None:
    key = keyed_server.api_key
    assert key
    results, proxy = fuzz(keyed_server, errors_become_500, "models.retrieve", api_key=key)
    dumped = results.model_dump_json()
    assert key not in dumped
    assert any(e.status == 200 for e in proxy.seen)  # the key was sent: valid requests got through
    failure = next(f for f in results.endpoints[0].failures if f.check == FuzzCheck.SERVER_ERROR)
    assert '"Authorization: Bearer $OPENAI_API_KEY"' in failure.curl


def test_a_keyed_server_that_ignores_the_key_is_caught(keyed_server: RunningServer) -> None:
    key = keyed_server.api_key
    assert key
    results, _ = fuzz(
        keyed_server,
        untouched,
        "models.list",
        api_key=key,
        add_headers=_inject_key(key),
        modes=(Mode.POSITIVE,),
    )
    assert FuzzCheck.AUTH in findings(results)


def test_findings_render_in_markdown_html_and_junit(server: RunningServer) -> None:
    results, _ = fuzz(server, errors_lose_envelope, "models.retrieve")
    failure = results.endpoints[0].failures[0]
    markdown = markdown_section(results)
    assert "| models.retrieve | fail |" in markdown and failure.curl in markdown
    page = html_section(results)
    assert "<section id='robustness'>" in page and html.escape(failure.curl, quote=True) in page
    assert "<script" not in page
    suite = junit_testsuite(results)
    ET.fromstring(ET.tostring(suite))  # well-formed
    (case,) = suite.findall("testcase")
    assert case.get("name") == "fuzz.models.retrieve" and case.find("failure") is not None
    assert suite.get("failures") == "1"
