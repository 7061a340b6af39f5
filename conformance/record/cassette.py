"""A cassette: recorded calls written as a case file in the suite's own YAML format.

Each call becomes one case (`rec.<endpoint>.<NNN>`, numbered in the order the application made
them) with one raw-HTTP step: the request body as sent, except that its `model` becomes `${model}`
so a replay can target another provider's model (`conformance replay --model`, default the first
one it lists), and expectations describing the recorded answer (shape.py). The matrix row is the
endpoint and the request's parameters, so a replay's matrix reads "chat.completions/stream+tools".

Secrets never reach the file: request headers are not kept at all (a replay sends its own key),
credential query parameters are dropped, and every credential the application sent is scrubbed
from whatever text is left (e.g. a key echoed in a body). The file is rewritten atomically after
every call, so stopping the recorder at any moment loses nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from conformance.calls import CallOutcome
from conformance.record import chain, shape
from conformance.reports.scrub import REDACTED, SECRET_HEADERS, scrub

# Parameters that say what is asked, not how: every call has them, so they do not name a matrix row.
_PAYLOAD_KEYS = {"model", "messages", "input", "prompt"}
_KEY_QUERY_PARAMS = {"key", "api-key", "api_key", "apikey", "access_token", "token"}
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TWO_PART_ENDPOINTS = ("chat/completions", "audio/", "images/", "fine_tuning/", "vector_stores/")


@dataclass
class RecordedCall:
    """One request the application made and the complete answer it got, as bytes."""

    seq: int
    method: str
    path: str  # below the API root, with the query: /chat/completions
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]  # lower-case names
    response_body: bytes
    secrets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.secrets |= credentials(self.request_headers)

    @property
    def request_json(self) -> Any:
        try:
            return json.loads(self.request_body) if self.request_body else None
        except ValueError:
            return None

    @property
    def stream_requested(self) -> bool:
        body = self.request_json
        return isinstance(body, dict) and body.get("stream") is True

    def outcome(self) -> CallOutcome:
        """The answer as the runner's own parser sees it."""
        out = CallOutcome(label="call", via="httpx", method=self.method, url=self.path)
        out.stream_requested = self.stream_requested
        out.status = self.status
        out.response_headers = dict(self.response_headers)
        out.body = bytearray(self.response_body)
        out.finished = out.started
        return out


def credentials(headers: dict[str, str]) -> set[str]:
    """The credentials in request headers: `Bearer sk-...` gives `sk-...` (and the whole value)."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and value:
            found.add(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.isalpha():
                found.add(token.strip())
    return found


def endpoint_of(path: str) -> str:
    """`/chat/completions` -> chat.completions, `/responses/resp_1/input_items` -> responses."""
    parts = [p for p in path.split("?")[0].strip("/").split("/") if p]
    if not parts:
        return "root"
    joined = "/".join(parts)
    if joined.startswith(_TWO_PART_ENDPOINTS) and len(parts) > 1:
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def parameter_of(call: RecordedCall, refs: list[chain.Answer] = []) -> str:  # noqa: B006 - read only
    """The matrix row: the request's parameters, or for a call without a body its route."""
    body = call.request_json
    if isinstance(body, dict):
        keys = sorted(str(k) for k in body if k not in _PAYLOAD_KEYS)
        return "+".join(keys) or "basic"
    model, ids = recorded_model(call), {a.id for a in refs}
    segments = call.path.split("?")[0].split("/")
    route = "/".join(
        "{model}" if model and seg == model else "{id}" if seg in ids else seg for seg in segments
    )
    return f"{call.method} {route}"


def _scrubbed(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {_scrubbed(k, secrets): _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    return value


def _path_without_keys(path: str, model: str | None, refs: list[chain.Answer]) -> str:
    """Credential query parameters dropped; the recorded model and earlier answers' ids become expressions."""
    route, _, query = path.partition("?")
    segments = [
        "${model}" if model and seg == model else chain.substitute(shape.escape(seg), refs)
        for seg in route.split("/")
    ]
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in _KEY_QUERY_PARAMS]
    return "/".join(segments) + (f"?{shape.escape(urlencode(kept))}" if kept else "")


def recorded_model(call: RecordedCall) -> str | None:
    """The model the call used, unless the call was refused because of it (then it is the point of the call)."""
    body = call.request_json
    model = body.get("model") if isinstance(body, dict) else None
    parts = call.path.split("?")[0].strip("/").split("/")
    if model is None and len(parts) == 2 and parts[0] == "models":  # GET /models/{model}
        model = parts[1] if call.status != 404 else None
    if not isinstance(model, str) or not model:
        return None
    return None if _refused_for(call, model) else model


def _refused_for(call: RecordedCall, model: str) -> bool:
    """A 4xx whose error names the model (OpenAI: 404 model_not_found): replaying it needs that very name."""
    if not 400 <= call.status < 500:
        return False
    try:
        error = json.loads(call.response_body).get("error")
    except (ValueError, AttributeError):
        return False
    if not isinstance(error, dict):
        return False
    return (
        error.get("param") == "model"
        or error.get("code") == "model_not_found"
        or model in str(error.get("message"))
    )


def _request(call: RecordedCall, answers: Mapping[str, chain.Answer]) -> dict[str, Any]:
    """The raw HTTP step's request: as sent, with the model and earlier answers' ids as expressions."""
    model = recorded_model(call)
    refs = chain.referenced(call, answers)
    request: dict[str, Any] = {"method": call.method, "path": _path_without_keys(call.path, model, refs)}
    body = call.request_json
    if isinstance(body, dict | list):
        body = chain.substitute(shape.escape(body), refs)
        if isinstance(body, dict) and model is not None:
            body["model"] = "${model}"
        request["json"] = body
    elif call.request_body:
        request["body"] = shape.escape(call.request_body.decode("utf-8", errors="replace"))
        content_type = next((v for k, v in call.request_headers.items() if k.lower() == "content-type"), None)
        if content_type:
            request["headers"] = {"Content-Type": content_type}
    return request


def case_for(call: RecordedCall, answers: Mapping[str, chain.Answer] | None = None) -> dict[str, Any]:
    """The case YAML (as data) for one recorded call; `answers` are earlier answers by id."""
    answers = answers or {}
    endpoint = endpoint_of(call.path)
    model = recorded_model(call)
    earlier = [
        {"name": a.step, "http": _request(a.call, answers), "expect": [{"status": a.call.status}]}
        for a in chain.chain(call, answers)
    ]
    expect = shape.expectations(call.outcome(), endpoint, call.request_json)
    stream = " (stream)" if call.stream_requested else ""
    title = f"{call.method} {call.path.split('?')[0]}{stream}: recorded HTTP {call.status}"
    case = {
        "id": f"rec.{endpoint}.{call.seq:03d}",
        "endpoint": endpoint,
        "parameter": parameter_of(call, chain.referenced(call, answers)),
        "title": title + (f" from model {model}" if model else ""),
        "steps": [*earlier, {"name": shape.STEP, "http": _request(call, answers), "expect": expect}],
    }
    return _scrubbed(case, call.secrets)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=110)


class Cassette:
    """The file being recorded: rewritten whole (atomically) after each call. Thread-safe."""

    def __init__(self, path: Path, upstream: str) -> None:
        self.path = path
        self.upstream = upstream
        self.started = datetime.now(UTC).replace(microsecond=0)
        self._cases: dict[int, str] = {}  # each case's YAML, serialized once: a rewrite only joins them
        self._models: list[str] = []
        self._secrets: set[str] = set()
        self._answers: dict[str, chain.Answer] = {}  # by id, for calls that refer to them (chain.py)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cases)

    def add(self, call: RecordedCall) -> dict[str, Any]:
        with self._lock:
            case = case_for(call, self._answers)
            answer = chain.answer_of(call, case["endpoint"])
            if answer is not None:
                self._answers[answer.id] = answer
            self._secrets |= call.secrets
            self._cases[call.seq] = _dump([case])
            model = recorded_model(call)
            if model and model not in self._models:
                self._models.append(model)
            self.write()
        return case

    def text(self) -> str:
        header = (
            f"# Recorded by `conformance record` from {self.upstream}, started {self.started.isoformat()}.\n"
            f"# Replay: conformance replay {self.path.name} --base-url URL [--model M]\n"
            "# Each case is one call: its request as sent (model -> ${model}) and the shape of the answer.\n"
        )
        recorded = {"upstream": self.upstream, "started": self.started.isoformat(), "models": self._models}
        cases = "".join(self._cases[seq] for seq in sorted(self._cases))
        body = _dump({"x-recorded": recorded}) + ("cases:\n" + cases if cases else "cases: []\n")
        return scrub(header + body, self._secrets)

    def write(self) -> None:
        """Write to a temporary file beside the cassette, then rename: a reader never sees half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.text())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


__all__ = ["REDACTED", "Cassette", "RecordedCall", "case_for", "endpoint_of"]
