"""What a recorded answer looked like, as expectations a replay must meet.

Values that naturally vary between two answers to the same request (ids, timestamps, generated
text, token counts) are not kept; what an application branches on is: the status, which fields
are there and their JSON types (conformance.shapes), a few enum-like values (finish_reason, object,
role, item types, tool names), whether tool-call arguments are JSON, and for streams the framing
rules the recorded stream met, the chunks' shape and the sequence of event types.

The answer is parsed by the same code the runner judges a replay with (calls.CallOutcome), so a
replay against the recorded provider sees exactly what was recorded.
"""

from __future__ import annotations

import json
from typing import Any

from conformance import expressions, shapes
from conformance.calls import CallOutcome
from conformance.sse import FRAMING_CHECKS

# Keys whose value an application typically branches on; their recorded values are kept.
PINNED_KEYS = ("object", "role", "finish_reason", "type", "status", "name")
STEP = "call"  # the name of the recorded call's step in its case
_JSON_FORMATS = ("json_object", "json_schema")


def expectations(outcome: CallOutcome, endpoint: str, request: Any) -> list[dict[str, Any]]:
    """The expectations (case YAML) that the recorded answer meets and a replay must meet too."""
    status = outcome.status
    out: list[dict[str, Any]] = [{"status": status}]
    view = outcome.view(endpoint)
    json_keys = _json_keys(request)
    stream = outcome.stream
    if stream is not None:
        out.append({"header": "content-type", "matches": "^text/event-stream"})
        out += [{"sse": name} for name, (_, check) in FRAMING_CHECKS.items() if not check(stream)]
        out += _stream_shape(view, json_keys)
    elif view["is_json"]:
        is_error = isinstance(status, int) and status >= 400
        out += _shape_and_pins(view, "body", json_keys, pins=not is_error)
    elif view["text"]:
        content_type = outcome.response_headers.get("content-type", "").split(";")[0].strip()
        if content_type:
            out.append({"header": "content-type", "startswith": content_type})
    # Recorded text must stay text; the one expression here is ours (`value`), its shape is recorded.
    return [{**e, "shape": escape(e["shape"])} if "value" in e else escape(e) for e in out]


def escape(value: Any) -> Any:
    """Recorded text that happens to contain `${` must stay text, not become an expression."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {escape(k): escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def _json_keys(request: Any) -> set[str]:
    """`arguments` always holds JSON; the text does too when the request asked for JSON output."""
    keys = {"arguments"}
    if not isinstance(request, dict):
        return keys
    chat_format = request.get("response_format")
    text_format = request.get("text", {}).get("format") if isinstance(request.get("text"), dict) else None
    for fmt in (chat_format, text_format):
        if isinstance(fmt, dict) and fmt.get("type") in _JSON_FORMATS:
            keys |= {"content", "text"}
    return keys


def _stream_shape(view: dict[str, Any], json_keys: set[str]) -> list[dict[str, Any]]:
    chunks = view.get("chunks") or []
    out: list[dict[str, Any]] = []
    dicts = [c for c in chunks if isinstance(c, dict)]
    types = [c.get("type") for c in dicts]
    # Deltas are fragments: only the assembled answer's text can hold a whole JSON document (no json keys).
    if dicts and len(dicts) == len(chunks) and all(isinstance(t, str) for t in types):
        # Named events (Responses): each kind has its own fields, so each kind gets its own shape.
        grouped = expressions.FUNCTIONS["group_by"](dicts, "type")
        shape = {kind: shapes.skeleton(events, ()) for kind, events in grouped.items()}
        out.append({"value": f"${{group_by({STEP}.chunks, 'type')}}", "shape": shape, "kind": "schema"})
        out.append({"field": "chunks[*].type", "in_order": shapes.collapse(types)})
    elif chunks:
        out.append({"field": "chunks", "shape": shapes.skeleton(chunks, ()), "kind": "schema"})
    objects = [c.get("object") for c in dicts]
    if dicts and all(isinstance(o, str) for o in objects):
        out.append({"field": "chunks[*].object", "all_in": _distinct(objects)})
    assembled = view.get("assembled")
    if isinstance(assembled, dict) and isinstance(assembled.get("response"), dict):
        out += _shape_and_pins(
            view, "assembled.response", json_keys, pins=True
        )  # Responses: the final object
    elif isinstance(assembled, dict) and assembled.get("choices"):
        out += _shape_and_pins(view, "assembled", json_keys, pins=True)
    return out


def _shape_and_pins(view: dict[str, Any], root: str, json_keys: set[str], pins: bool) -> list[dict[str, Any]]:
    value = expressions.resolve(view, root)
    skeleton = shapes.skeleton(value, json_keys)
    out: list[dict[str, Any]] = [{"field": root, "shape": skeleton, "kind": "schema"}]
    if not pins:
        return out
    for path in shapes.pinned_paths(skeleton, PINNED_KEYS, root):
        values = _distinct(shapes.flatten(expressions.resolve(view, path)))
        if values and any(v is not None for v in values):
            out.append(
                {"field": path, "all_in": values} if "[*]" in path else {"field": path, "equals": values[0]}
            )
    return out


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(json.dumps(value, sort_keys=True, default=str), value)
    return list(seen.values())
