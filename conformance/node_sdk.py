"""Make a step's SDK call through the official `openai` npm package instead of the Python one.

Applications in JavaScript parse a provider's answers with a different SDK: its own JSON and SSE
decoders, its own error handling. A server can satisfy one and break the other, so `run --sdk
python,node` replays the SDK cases through both. The calls run in one long-lived Node.js process per
run (conformance/node/sdk_worker.mjs, JSON lines over its stdin/stdout, several calls in flight),
started on the first call. The worker records the raw exchange and streams the response bytes back
as they arrive, so a call that hits the case's deadline still has its partial answer as evidence,
exactly like the Python path in conformance.calls.

The JS SDK does not validate types the way the Python SDK's strict mode does: it parses JSON and
SSE. Only what it actually throws on a 2xx answer is recorded as its finding (`sdk_error`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import inspect
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from conformance.calls import MAX_BODY_BYTES, CallOutcome, sdk_signature
from conformance.errors import UsageError

WORKER_DIR = Path(__file__).resolve().parent / "node"
WORKER_SCRIPT = WORKER_DIR / "sdk_worker.mjs"
VIA = "node-sdk"  # Exchange.via of calls made through the npm package
_EXTRA = ("extra_headers", "extra_query", "extra_body", "timeout")
_LINE_LIMIT = 16 * 1024 * 1024  # one JSON line carries one chunk of the answer, base64-encoded


class NodeMethodMissing(Exception):
    """The npm package has no counterpart of the Python SDK method a step calls: the case cannot run."""


class WorkerDied(Exception):
    pass


MIN_NODE = (20, 3)  # AbortSignal.any, which the worker uses to cancel a call at the case's deadline


@functools.cache
def _node_version(node: str) -> tuple[int, ...]:
    try:
        text = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def setup_problem() -> str | None:
    """Why `--sdk node` cannot run here, or None: Node.js must be on PATH and the package installed."""
    node = shutil.which("node")
    if node is None:
        return "--sdk node needs Node.js (`node` on PATH); install it, then run scripts/setup-venv"
    found = _node_version(node)
    if found < MIN_NODE:
        shown = ".".join(map(str, found)) or "an unreadable version"
        return f"--sdk node needs Node.js {'.'.join(map(str, MIN_NODE))} or later; {node} is {shown}"
    if not (WORKER_DIR / "node_modules" / "openai" / "package.json").is_file():
        return (
            f"--sdk node needs the openai npm package: run scripts/setup-venv "
            f"(or `npm ci --prefix {WORKER_DIR}`)"
        )
    return None


def ensure_available() -> None:
    problem = setup_problem()
    if problem is not None:
        raise UsageError(problem)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def js_call(dotted: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The JS SDK's method path and arguments for a Python SDK call.

    Both SDKs are generated from the same API description: the Python method's positional parameters
    are the URL's path parameters, which the JS method takes positionally in the same order; its
    keyword-only parameters are the body (or query) object the JS method takes next; extra_body is
    merged into that object (the JS SDK sends unknown keys as they are), and extra_headers,
    extra_query and timeout become the JS request options.
    """
    from conformance.cases import sdk_probe_client

    signature = sdk_signature(sdk_probe_client(), dotted).parameters.values()
    positional = [p.name for p in signature if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    has_body = any(p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _EXTRA for p in signature)
    args: list[Any] = [params[name] for name in positional if name in params]
    body = {k: v for k, v in params.items() if k not in positional and k not in _EXTRA}
    body.update(params.get("extra_body") or {})
    options: dict[str, Any] = {}
    if params.get("extra_headers"):
        options["headers"] = params["extra_headers"]
    if params.get("extra_query"):
        options["query"] = params["extra_query"]
    if params.get("timeout") is not None:
        options["timeout"] = float(params["timeout"]) * 1000
    if has_body:
        args.append(body)
    elif body:
        options["body"] = body
    if options:
        args.append(options)
    return [_camel(part) for part in dotted.split(".")], args


class NodeWorker:
    """The run's Node.js process: one call per request id, answers routed back to their outcome."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Lock | None = None
        self._pending: dict[int, tuple[CallOutcome, asyncio.Future[dict[str, Any] | None]]] = {}
        self._next_id = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._failed: str | None = None
        self.sdk_version: str | None = None

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._failed is not None:  # once is enough: every later call would fail the same way
                raise WorkerDied(self._failed)
            if self._process is None:
                ensure_available()
                process = await asyncio.create_subprocess_exec(
                    "node",
                    str(WORKER_SCRIPT),
                    cwd=str(WORKER_DIR),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    limit=_LINE_LIMIT,
                )
                assert process.stdout is not None and process.stderr is not None
                ready = json.loads(await process.stdout.readline() or b"null")
                if not isinstance(ready, dict) or ready.get("type") != "ready":
                    err = (await process.stderr.read()).decode("utf-8", "replace").strip()
                    self._failed = f"the node SDK worker did not start: {err.splitlines()[-1] if err else ready}"
                    await process.wait()
                    raise WorkerDied(self._failed)
                self.sdk_version = str(ready.get("sdk_version"))
                self._process = process
                self._tasks = [
                    asyncio.ensure_future(self._read(process.stdout)),
                    asyncio.ensure_future(self._drain(process.stderr)),
                ]
            return self._process

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            async for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:  # not ours (a stray print): keep it for the exit message
                    self._stderr.append(line.decode("utf-8", "replace").rstrip())
                    continue
                entry = self._pending.get(message.get("id"))
                if entry is not None:
                    self._apply(message, *entry)
        finally:
            # Calls in flight get an error verdict; later calls fail at once instead of waiting out their deadline.
            self._failed = f"the node SDK worker exited: {' | '.join(self._stderr) or 'no message'}"
            for outcome, done in self._pending.values():
                if not done.done():
                    outcome.transport_error = self._failed
                    done.set_result(None)

    def _apply(self, message: dict[str, Any], outcome: CallOutcome, done: asyncio.Future[Any]) -> None:
        kind = message.get("type")
        if kind == "request":
            outcome.method, outcome.url = message["method"], message["url"]
            outcome.request_headers = message["headers"]
            body = message.get("body")
            if body is not None:
                try:
                    outcome.request_body = json.loads(body)
                except ValueError:
                    outcome.request_body = body
        elif kind == "response":
            outcome.status = message["status"]
            outcome.response_headers = message["headers"]
        elif kind == "body":
            outcome.body.extend(base64.b64decode(message["data"]))
            if len(outcome.body) > MAX_BODY_BYTES and not done.done():
                outcome.transport_error = f"the answer exceeded {MAX_BODY_BYTES // (1024 * 1024)} MB"
                done.set_result(None)
        elif kind == "done" and not done.done():
            done.set_result(message.get("error"))

    def _send(self, message: dict[str, Any]) -> None:
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.is_closing():
            # allow_nan=False: JSON.parse would choke on NaN and take every call in flight down with it
            process.stdin.write(json.dumps(message, allow_nan=False).encode("utf-8") + b"\n")

    async def call(
        self,
        outcome: CallOutcome,
        base_url: str,
        api_key: str | None,
        method: str,
        params: dict[str, Any],
        timeout: float,
    ) -> None:
        """Like conformance.calls.sdk_call: fills `outcome`, never raises for what the server did.

        Raises NodeMethodMissing when the npm package has no counterpart of `method`.
        """
        outcome.params = params
        outcome.stream_requested = params.get("stream") is True
        path, args = js_call(method, params)
        await self.call_path(outcome, base_url, api_key, path, args, timeout)

    async def call_path(
        self, outcome: CallOutcome, base_url: str, api_key: str | None, path: list[str], args: list[Any], timeout: float
    ) -> None:
        """`client.<path>(...args)` in the worker, as JS spells it (e.g. responses.inputItems.list)."""
        await self._ensure_started()
        self._next_id += 1
        call_id = self._next_id
        done: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = (outcome, done)
        try:
            self._send(
                {
                    "id": call_id,
                    "op": "call",
                    "base_url": base_url,
                    "api_key": api_key or "no-key",  # the SDK insists on one; keyless servers ignore it
                    "timeout_ms": timeout * 1000,
                    "path": path,
                    "args": args,
                    "default_headers": {"Accept-Encoding": "identity"},
                }
            )
            error = await done
        finally:
            if not done.done() or outcome.transport_error:  # cancelled (the case's deadline) or too large
                self._send({"id": call_id, "op": "cancel"})
            del self._pending[call_id]
            outcome.finished = time.monotonic()
        if error is not None:
            _record(outcome, error, timeout)

    async def close(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _record(outcome: CallOutcome, error: dict[str, Any], timeout: float) -> None:
    kind, name, message = error.get("kind"), error.get("name") or "Error", error.get("message", "")
    if kind == "status":
        return  # a 4xx/5xx: the status and body are in the capture
    if kind == "missing":
        raise NodeMethodMissing(message)
    if kind == "timeout":
        outcome.transport_error = f"no answer within {timeout:.0f}s"
    elif kind == "connection":
        outcome.transport_error = f"connection failed: {message}"
    elif kind == "unsent":
        outcome.transport_error = f"the openai node SDK did not send the request: {name}: {message}"
    elif kind == "decode":
        outcome.sdk_error = f"the openai node SDK could not decode the answer: {name}: {message}"
    else:
        outcome.sdk_error = f"the openai node SDK raised {name}: {message}"
