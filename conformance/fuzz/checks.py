"""OpenAI-specific schemathesis checks and request hooks, registered on import.

Schemathesis' own checks cover 5xx, status codes, and valid-accepted / invalid-rejected. What
they cannot know is OpenAI's error envelope, that `stream: true` switches the body to SSE whose
`data:` lines each carry a chunk (and end with `[DONE]`), and the harness' schema policy (3.0-style
`nullable`, extra fields allowed). Bodies and chunks are therefore validated with
`conformance.openapi`, the same validator the case-based harness uses, so both halves judge a
response alike.

Checks and hooks are process-wide in schemathesis; each acts only on operations the overlay built
(those carrying `x-conformance`), so they never touch another schema fuzzed in the same process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core import deserialization
from schemathesis.core.failures import Failure

from conformance.fuzz.overlay import EXTENSION, Mode
from conformance.openapi import schema_errors

ERROR_SCHEMA = "ErrorResponse"
DONE = "[DONE]"


def _meta(case: schemathesis.Case) -> dict[str, Any] | None:
    raw = getattr(case.operation.definition, "raw", None)
    return raw.get(EXTENSION) if isinstance(raw, dict) else None


def _media_type(response: schemathesis.Response) -> str | None:
    values = response.headers.get("content-type")
    if not values:
        return None
    return values[0].split(";", 1)[0].strip().lower()


def _first_error(errors: list[str]) -> tuple[str, str]:
    """(where, message) of the most relevant violation; `where` keys distinct findings apart."""
    first = errors[0]
    where, _, message = first.partition(": ")
    return where, message or first


class OpenAIFailure(Failure):
    """A finding of one of our checks; distinct findings of a check are told apart by `key`."""

    code = "ST950"
    kind_title = "OpenAI conformance"

    def __init__(self, *, operation: str, title: str, message: str, key: str = "") -> None:
        super().__init__(operation=operation, title=title, message=message)
        self.key = key

    @property
    def _unique_key(self) -> str:
        return f"{self.title}|{self.key}"


class ErrorEnvelopeViolation(OpenAIFailure):
    kind_title = "Error response is not OpenAI's error envelope"


class ResponseSchemaViolation(OpenAIFailure):
    kind_title = "Response does not conform to the OpenAI schema"


class ContentTypeMismatch(OpenAIFailure):
    kind_title = "Unexpected Content-Type"


@schemathesis.check
def openai_error_envelope(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every error answer carries `{"error": {"message", "type", "param", "code"}}` as JSON."""
    if _meta(case) is None or response.status_code < 400:
        return None
    label = case.operation.label
    title = ErrorEnvelopeViolation.kind_title
    try:
        body = json.loads(response.content)
    except ValueError:
        excerpt = response.content[:200].decode("utf-8", "replace")
        raise ErrorEnvelopeViolation(
            operation=label,
            title=title,
            key="not-json",
            message=f"{response.status_code} with a body that is not JSON: {excerpt!r}",
        ) from None
    errors = schema_errors(body, ERROR_SCHEMA)  # the spec's own: no derived schema involved
    if errors:
        where, message = _first_error(errors)
        raise ErrorEnvelopeViolation(
            operation=label,
            title=title,
            key=where,
            message=f"{response.status_code} body is not an {ERROR_SCHEMA}: {where}: {message}\n"
            f"Body: {json.dumps(body)[:300]}",
        )
    return True


def _requested_stream(case: schemathesis.Case) -> bool:
    return isinstance(case.body, dict) and case.body.get("stream") is True


@schemathesis.check
def openai_content_type(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """SSE exactly when `stream: true` was asked for and answered 2xx; JSON otherwise."""
    meta = _meta(case)
    if meta is None:
        return None
    streamed = 200 <= response.status_code < 300 and _requested_stream(case) and meta.get("stream_response")
    expected = "text/event-stream" if streamed else "application/json"
    actual = _media_type(response)
    if actual != expected:
        raise ContentTypeMismatch(
            operation=case.operation.label,
            title=ContentTypeMismatch.kind_title,
            key=f"{expected}|{actual}",
            message=f"{response.status_code} answered with Content-Type {actual or 'missing'}, expected {expected}",
        )
    return True


def _response_schema(meta: dict[str, Any], case: schemathesis.Case) -> str:
    """The overlay's `response`, or the first variant whose `when` the request body matches."""
    body = case.body if isinstance(case.body, dict) else {}
    for variant in meta.get("response_variants") or []:
        if all(body.get(key) == value for key, value in variant["when"].items()):
            return str(variant["response"])
    return str(meta["response"])


def _violation(label: str, key: str, message: str) -> ResponseSchemaViolation:
    return ResponseSchemaViolation(
        operation=label, title=ResponseSchemaViolation.kind_title, key=key, message=message
    )


def _validate(label: str, value: object, schema_name: str, schemas: Path | None, where_prefix: str = "") -> None:
    errors = schema_errors(value, schema_name, schemas)
    if errors:
        where, message = _first_error(errors)
        raise _violation(
            label, f"{schema_name}|{where}", f"{where_prefix}Not a valid {schema_name}: {where}: {message}"
        )


def _check_json_body(
    label: str, response: schemathesis.Response, schema_name: str, schemas: Path | None
) -> None:
    try:
        body = json.loads(response.content)
    except ValueError:
        raise _violation(
            label, "not-json", f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from None
    _validate(label, body, schema_name, schemas)


def _check_event_stream(
    case: schemathesis.Case, response: schemathesis.Response, schema_name: str, schemas: Path | None
) -> None:
    label = case.operation.label
    context = deserialization.DeserializationContext(operation=case.operation, case=case)
    events = deserialization.deserialize_response(response, "text/event-stream", context=context)
    if not events:
        raise _violation(label, "empty-stream", "The event stream carries no `data:` event")
    for index, event in enumerate(events):
        data = event["data"]
        if data == DONE:
            if index != len(events) - 1:
                raise _violation(label, "after-done", f"{len(events) - 1 - index} event(s) after `data: [DONE]`")
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _violation(
                label, "chunk-not-json", f"Event #{index}: `data:` is neither JSON nor [DONE]: {data[:200]!r}"
            ) from None
        _validate(label, chunk, schema_name, schemas, where_prefix=f"Event #{index}: ")


@schemathesis.check
def openai_response_schema(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A 2xx body (or each streamed chunk) validates against the spec's response schema."""
    meta = _meta(case)
    if meta is None or not 200 <= response.status_code < 300:
        return None
    schemas = Path(meta["schemas_file"]) if meta.get("schemas_file") else None
    if _media_type(response) == "text/event-stream" and meta.get("stream_response"):
        _check_event_stream(case, response, meta["stream_response"], schemas)
    else:
        _check_json_body(case.operation.label, response, _response_schema(meta, case), schemas)
    return True


def _whole_floats_to_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole_floats_to_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_floats_to_ints(item) for key, item in value.items()}
    return value


def _coercion_target(body: dict[str, Any]) -> str | None:
    """The parameter to spell as a string: the first numeric or boolean one, so shrinking a failing
    request down to fewer parameters keeps probing (and ends on the smallest one that shows it)."""
    return next((k for k in sorted(body) if isinstance(body[k], bool | int | float)), None)


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """Keep requests realistic and cheap; in the coercion run, probe lenient parsing.

    Valid requests: schemathesis also spells integers as whole floats (`"n": 2.0`); clients never
    do, and servers disagree on it, so valid requests carry plain integers.

    Coercion run: one numeric or boolean parameter goes as the string a lenient parser turns back
    (`"max_tokens": "4"`, `"stream": "true"`). OpenAI rejects these; pydantic's default (lax) mode
    accepts them, the commonest leniency of compatible servers, and schemathesis' own type
    mutations draw strings no parser coerces. Schemathesis revalidates a case a hook edits, so
    such a request is judged as the invalid request it is (it must get a 4xx).

    Invalid requests: add the overlay's `invalid_request_cap` (a small token limit) when the request
    sets none, so a server that wrongly accepts one answers in a bounded time (the finding is the
    acceptance, not its cost).
    """
    meta = _meta(case)
    if meta is None or not isinstance(case.body, dict):
        return
    mode = meta.get("mode")
    if mode in (Mode.POSITIVE, Mode.COERCION):
        body = _whole_floats_to_ints(case.body)
        target = _coercion_target(body) if mode == Mode.COERCION else None
        if target is not None:
            body[target] = json.dumps(body[target])
        case.body = body
    elif meta.get("invalid_request_cap") and not any(key in case.body for key in meta.get("cap_keys", [])):
        # A cap cannot make an invalid request valid: the spec's request properties are independent.
        case.body = {**case.body, **meta["invalid_request_cap"]}


def coerced_parameters(body: Any) -> dict[str, str]:
    """Top-level string values that spell a number or boolean: what the coercion run sends."""
    if not isinstance(body, dict):
        return {}
    found = {}
    for key, value in body.items():
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, bool | int | float):
                found[key] = value
    return found


OUR_CHECKS = ("openai_error_envelope", "openai_content_type", "openai_response_schema")
