"""The Responses API's event stream: its framing rules and its reassembly, registered in `sse`.

A Responses stream is not a list of chunks but a small protocol: named events, numbered from 0,
with a lifecycle (`response.created` first, one terminal event last) and, for every output item, an
`added` ... `done` bracket around its content parts, whose deltas must add up to the text the `done`
events and the final response report. Each rule is its own check so a report names the one broken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from conformance.sse_events import ParsedStream

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def _events(s: ParsedStream) -> list[dict[str, Any]]:
    return [e.json for e in s.events if e.is_json and isinstance(e.json, dict)]


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _event_names(s: ParsedStream) -> str:
    named = [e for e in s.events if e.is_json and isinstance(e.json, dict)]
    if not named:
        return "no JSON events"
    for i, e in enumerate(named):
        if e.event != e.json.get("type"):
            shown = "no event: line" if e.event is None else f"event: {e.event}"
            return f"event {i + 1} ({e.json.get('type')!r}) has {shown}"
    return ""


def _sequence_numbers(s: ParsedStream) -> str:
    events = _events(s)
    if not events:
        return "no JSON events"
    for i, event in enumerate(events):
        number = event.get("sequence_number")
        if number != i or isinstance(number, bool):
            return f"event {i + 1} ({event.get('type')!r}) has sequence_number {_short(number)}, expected {i}"
    return ""


def _order(s: ParsedStream) -> str:
    events = _events(s)
    types = [e.get("type") for e in events]
    if not types or types[0] != "response.created":
        return f"the first event is {types[0] if types else None!r}, not 'response.created'"
    terminals = [i for i, t in enumerate(types) if t in TERMINAL]
    if len(terminals) != 1:
        return f"{len(terminals)} terminal events ({', '.join(TERMINAL)}), expected exactly one"
    if terminals[0] != len(types) - 1:
        return f"{types[terminals[0]]!r} is event {terminals[0] + 1} of {len(types)}, not the last"
    items: dict[Any, dict[str, Any]] = {}  # output_index -> {"id", "done", "parts": {content_index: state}}
    for i, event in enumerate(events):
        kind = str(event.get("type"))
        if kind in ("response.created", "response.in_progress", *TERMINAL) or "output_index" not in event:
            continue
        where = f"event {i + 1} ({kind})"
        index = event["output_index"]
        if kind == "response.output_item.added":
            if index in items:
                return f"{where}: output_index {index} is added twice"
            if "response.in_progress" not in types[:i]:
                return f"{where} comes before 'response.in_progress'"
            items[index] = {"id": (event.get("item") or {}).get("id"), "done": False, "parts": {}}
            continue
        item = items.get(index)
        if item is None:
            return f"{where}: output_index {index} was never added"
        if item["done"]:
            return f"{where}: output_index {index} is already done"
        if "item_id" in event and event["item_id"] != item["id"]:
            return f"{where}: item_id {_short(event['item_id'])} is not the added item's id {_short(item['id'])}"
        if kind == "response.output_item.done":
            open_parts = [c for c, state in item["parts"].items() if state != "done"]
            if open_parts:
                return f"{where}: content part {open_parts[0]} of output_index {index} is not done yet"
            item["done"] = True
            continue
        if "content_index" in event:
            problem = _part_step(item["parts"], event["content_index"], kind)
            if problem:
                return f"{where}: {problem}"
    unfinished = [i for i, item in items.items() if not item["done"]]
    if unfinished:
        return f"output_index {unfinished[0]} never gets 'response.output_item.done'"
    return ""


_PART_STEPS = {
    "response.content_part.added": ({None}, "added"),
    "response.output_text.delta": ({"added", "text"}, "text"),
    "response.refusal.delta": ({"added", "text"}, "text"),
    "response.output_text.done": ({"added", "text"}, "text_done"),
    "response.refusal.done": ({"added", "text"}, "text_done"),
    "response.content_part.done": ({"added", "text_done"}, "done"),
}


_PART_STATES = {
    None: "not added",
    "added": "just added",
    "text": "still receiving deltas",
    "text_done": "finished (its text is done)",
    "done": "already done",
}


def _part_step(parts: dict[Any, str], index: Any, kind: str) -> str:
    """One content-part event in its place: added, then deltas, then the text's done, then done."""
    if kind not in _PART_STEPS:
        return ""
    allowed, after = _PART_STEPS[kind]
    state = parts.get(index)
    if state not in allowed:
        return f"content_index {index} is {_PART_STATES[state]} at this point"
    parts[index] = after
    return ""


def _about_an_item(kind: Any) -> bool:
    return isinstance(kind, str) and kind.startswith("response.") and kind not in (
        "response.created", "response.in_progress", *TERMINAL
    )  # fmt: skip


def _collect(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per output item: text and arguments from deltas, and what each `done` event reports."""
    out: dict[Any, dict[str, Any]] = {}
    terminal = next((e for e in events if e.get("type") in TERMINAL), None)
    added = 0
    for event in events:
        kind, index = event.get("type"), event.get("output_index")
        if index is None and _about_an_item(kind):
            # No output_index (llama-server): items come one after another, so an event belongs to the
            # item added last. The missing field itself is the wire axis's (the SDK's event types).
            index = added if kind == "response.output_item.added" else max(added - 1, 0)
        if kind == "response.output_item.added":
            added += 1
        if index is None:
            continue
        slot = out.setdefault(index, {"deltas": {}, "text_done": {}, "part_done": {}, "args": [], "args_done": None, "item": None, "added": None})
        content = event.get("content_index")
        if kind == "response.output_item.added":
            slot["added"] = event.get("item")
        elif kind == "response.output_text.delta":
            slot["deltas"].setdefault(content, []).append(event.get("delta"))
        elif kind == "response.output_text.done":
            slot["text_done"][content] = event.get("text")
        elif kind == "response.content_part.done":
            slot["part_done"][content] = (event.get("part") or {}).get("text")
        elif kind == "response.function_call_arguments.delta":
            slot["args"].append(event.get("delta"))
        elif kind == "response.function_call_arguments.done":
            slot["args_done"] = event.get("arguments")
        elif kind == "response.output_item.done":
            slot["item"] = event.get("item")
    final = (terminal or {}).get("response") if isinstance((terminal or {}).get("response"), dict) else None
    return {"items": out, "final": final}


def _text_adds_up(s: ParsedStream) -> str:
    collected = _collect(_events(s))
    final_output = (collected["final"] or {}).get("output")
    if not isinstance(final_output, list):
        return "the terminal event carries no response with an output list"
    if not collected["items"]:
        return "no output items in the stream"
    for index, slot in collected["items"].items():
        item = slot["item"] if isinstance(slot["item"], dict) else {}
        final_item = final_output[index] if isinstance(index, int) and 0 <= index < len(final_output) else None
        if not isinstance(final_item, dict):
            return f"the final response has no output[{index}]"
        if final_item != item:
            return f"output[{index}] of the final response differs from its 'response.output_item.done' item"
        for content, pieces in sorted(slot["deltas"].items(), key=lambda kv: str(kv[0])):
            if not all(isinstance(p, str) for p in pieces):
                return f"output[{index}].content[{content}]: a delta is not a string"
            joined = "".join(pieces)
            parts = item.get("content") if isinstance(item.get("content"), list) else []
            part = parts[content] if isinstance(content, int) and 0 <= content < len(parts) else {}
            for label, reported in (
                ("response.output_text.done", slot["text_done"].get(content)),
                ("response.content_part.done", slot["part_done"].get(content)),
                ("the finished item", part.get("text") if isinstance(part, dict) else None),
            ):
                if reported != joined:
                    return f"output[{index}].content[{content}]: the deltas join to {_short(joined)}, {label} says {_short(reported)}"
        if slot["args"] or slot["args_done"] is not None:
            joined = "".join(p for p in slot["args"] if isinstance(p, str))
            for label, reported in (("response.function_call_arguments.done", slot["args_done"]), ("the finished item", item.get("arguments"))):
                if reported != joined:
                    return f"output[{index}]: the argument deltas join to {_short(joined)}, {label} says {_short(reported)}"
    return ""


CHECKS: dict[str, tuple[str, Callable[[ParsedStream], str]]] = {
    "event_names": ("every event is named (event: line) after its type", _event_names),
    "sequence_numbers": ("sequence_number counts up from 0 by one, event by event", _sequence_numbers),
    "responses_order": (
        "response.created first, one terminal event last, each output item and content part opened, filled and closed in order",
        _order,
    ),
    "responses_text": (
        "the deltas join to the text (and arguments) the done events, the finished item and the final response report",
        _text_adds_up,
    ),
}


def assemble(chunks: list[Any]) -> dict[str, Any]:
    """The stream put back together: the final response, and what the deltas alone add up to.

    `response` is the terminal event's response (compare it with the non-streamed answer);
    `output[i].text` / `.arguments` and `output_text` are rebuilt from the deltas only.
    """
    events = [c for c in chunks if isinstance(c, dict)]
    collected = _collect(events)
    terminal = next((e for e in events if e.get("type") in TERMINAL), None)
    output = []
    for index in sorted(collected["items"], key=lambda k: (0, k) if isinstance(k, int) else (1, str(k))):
        slot = collected["items"][index]
        added = slot["added"] if isinstance(slot["added"], dict) else {}
        texts = ["".join(p for p in pieces if isinstance(p, str)) for _, pieces in sorted(slot["deltas"].items(), key=lambda kv: str(kv[0]))]
        output.append(
            {
                "type": added.get("type"),
                "id": added.get("id"),
                "name": added.get("name"),
                "text": "".join(texts),
                "arguments": "".join(p for p in slot["args"] if isinstance(p, str)),
            }
        )
    return {
        "terminal": terminal.get("type") if terminal else None,
        "response": collected["final"],
        "output": output,
        "output_text": "".join(o["text"] for o in output if o["type"] == "message"),
    }
