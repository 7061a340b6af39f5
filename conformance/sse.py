"""Server-sent events: check a parsed stream's framing, and assemble chat and completion chunks.

The SDK's decoder is forgiving by design (it skips what it does not understand), so framing is judged
here on the raw bytes: what a stricter client, a proxy, or another language's SDK would see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from conformance import responses_stream
from conformance.sse_events import Event, ParsedStream, parse

# The parser is re-exported: callers read a stream and its rules from one place.
__all__ = [
    "ASSEMBLERS",
    "FRAMING_CHECKS",
    "WIRE_CHECKS",
    "Event",
    "ParsedStream",
    "assemble_chat",
    "assemble_completions",
    "parse",
]


# ---------------------------------------------------------------------------------------------------
# Framing checks, by name (the YAML says `sse: done_last`). Each returns "" when it holds, else what
# was seen instead.


def _data_lines(s: ParsedStream) -> str:
    if s.stray_lines:
        return f"line that is not an SSE field: {s.stray_lines[0][:120]!r}"
    if not s.events:
        return "no data events at all"
    if s.unparsable:
        return f"data that is neither JSON nor [DONE]: {s.unparsable[0][:120]!r}"
    if s.unterminated:
        return "the last event is not terminated by a blank line"
    return ""


def _done_last(s: ParsedStream) -> str:
    done = [i for i, e in enumerate(s.events) if e.data == "[DONE]"]
    if not done:
        return "no data: [DONE] event"
    if len(done) > 1:
        return f"{len(done)} [DONE] events"
    if done[0] != len(s.events) - 1:
        return f"[DONE] is event {done[0] + 1} of {len(s.events)}, not the last"
    return ""


def _same_id(s: ParsedStream) -> str:
    for key in ("id", "created", "model"):
        values = {json.dumps(c.get(key)) for c in _dicts(s)}
        if len(values) > 1:
            return f"chunks carry different {key} values: {', '.join(sorted(values))[:200]}"
    return ""


def _role_first(s: ParsedStream) -> str:
    firsts: dict[Any, dict[str, Any]] = {}
    for chunk in _dicts(s):
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                firsts.setdefault(choice.get("index"), choice)
    if not firsts:
        return "no chunk has a choice"
    for index, choice in firsts.items():
        role = (choice.get("delta") or {}).get("role")
        if role != "assistant":
            return f"the first delta of choice {index} has role {role!r}, not 'assistant'"
    return ""


def _finish_last(s: ParsedStream) -> str:
    per_index: dict[Any, list[Any]] = {}
    for chunk in _dicts(s):
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                per_index.setdefault(choice.get("index"), []).append(choice.get("finish_reason"))
    if not per_index:
        return "no chunk has a choice"
    for index, reasons in per_index.items():
        if reasons[-1] is None:
            return f"choice {index} never gets a finish_reason"
        early = [r for r in reasons[:-1] if r is not None]
        if early:
            return f"choice {index} has finish_reason {early[0]!r} before its last chunk"
    return ""


def _usage_chunk(s: ParsedStream) -> str:
    """Behaviour: the usage arrives, on the last chunk (its own or the last choice chunk)."""
    chunks = _dicts(s)
    if not chunks:
        return "no chunks"
    last = chunks[-1]
    if not isinstance(last.get("usage"), dict):
        return f"the last chunk has usage {json.dumps(last.get('usage'))[:120]}, expected an object"
    early = [i for i, c in enumerate(chunks[:-1]) if c.get("usage") is not None]
    if early:
        return f"chunk {early[0] + 1} carries usage before the final usage chunk"
    return ""


def _usage_chunk_alone(s: ParsedStream) -> str:
    """Wire: OpenAI sends the usage on a chunk of its own, with choices [] (SDKs read it either way)."""
    chunks = _dicts(s)
    if chunks and isinstance(chunks[-1].get("usage"), dict) and chunks[-1].get("choices") != []:
        return f"the usage chunk has choices {json.dumps(chunks[-1].get('choices'))[:120]}, expected []"
    return ""


def _no_usage(s: ParsedStream) -> str:
    chunks = _dicts(s)
    with_usage = [i for i, c in enumerate(chunks) if c.get("usage") is not None]
    if with_usage:
        return f"chunk {with_usage[0] + 1} carries usage although include_usage was not requested"
    empty = [i for i, c in enumerate(chunks) if c.get("choices") == []]
    if empty:
        return f"chunk {empty[0] + 1} has no choices although include_usage was not requested"
    return ""


def _tool_call_deltas(s: ParsedStream) -> str:
    """OpenAI's tool-call streaming: the first delta of a call names it, the rest only add arguments."""
    seen: dict[tuple[Any, Any], int] = {}
    for n, chunk in enumerate(_dicts(s), start=1):
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                if not isinstance(call, dict) or not isinstance(call.get("index"), int):
                    return f"chunk {n}: a tool call delta without an integer index: {json.dumps(call)[:120]}"
                key = (choice.get("index"), call["index"])
                function = call.get("function") if isinstance(call.get("function"), dict) else {}
                arguments = function.get("arguments")
                if key not in seen:
                    seen[key] = n
                    missing = [k for k, ok in (("id", isinstance(call.get("id"), str) and call["id"]),
                                               ("type", call.get("type") == "function"),
                                               ("function.name", isinstance(function.get("name"), str) and function["name"]))
                               if not ok]  # fmt: skip
                    if missing:
                        return f"chunk {n}: the first delta of tool call {call['index']} lacks {', '.join(missing)}"
                elif call.get("id") is not None or function.get("name") is not None:
                    return f"chunk {n}: tool call {call['index']} sends its id or name again (first sent in chunk {seen[key]})"
                if arguments is not None and not isinstance(arguments, str):
                    return f"chunk {n}: tool call {call['index']} arguments fragment is not a string: {json.dumps(arguments)[:80]}"
    return ""  # a stream without calls has nothing to frame (the cases check that calls were made)


def _dicts(s: ParsedStream) -> list[dict[str, Any]]:
    return [c for c in s.chunks if isinstance(c, dict)]


FRAMING_CHECKS: dict[str, tuple[str, Callable[[ParsedStream], str]]] = {
    "data_lines": ("every line is an SSE field and every event's data is JSON or [DONE]", _data_lines),
    "done_last": ("the stream ends with exactly one data: [DONE]", _done_last),
    "same_id": ("every chunk has the same id, created and model", _same_id),
    "role_first": ("the first delta of each choice carries role 'assistant'", _role_first),
    "finish_last": ("finish_reason is null until each choice's last chunk, then set", _finish_last),
    "usage_chunk": ("usage is null on every chunk but the last, which carries it", _usage_chunk),
    "usage_chunk_alone": ("the usage comes on a chunk of its own, with choices []", _usage_chunk_alone),
    "no_usage": ("without include_usage no chunk carries usage or empty choices", _no_usage),
    "tool_call_deltas": (
        "each streamed tool call starts with a delta carrying its index, id, type and name; later deltas add only argument fragments",
        _tool_call_deltas,
    ),
    **responses_stream.CHECKS,
}
# Framing rules that are the wire format, not the behaviour: a stream without its [DONE], unnamed
# events, a role missing from the first delta, usage sent unasked or on the last choice chunk still
# stream the answer (the SDKs read it), so these land on the wire axis. A stream that ends early (no finish_reason) or loses usage is behaviour.
WIRE_CHECKS = frozenset(
    {"data_lines", "done_last", "same_id", "role_first", "event_names", "sequence_numbers", "usage_chunk_alone", "no_usage"}
)


# ---------------------------------------------------------------------------------------------------
# Assembly: the streamed answer put back together in the shape of the non-streamed one, so a case can
# compare the two with ordinary field expectations.


def _assemble(
    chunks: list[Any],
    obj: str,
    new_slot: Callable[[Any], dict[str, Any]],
    merge: Callable[[dict[str, Any], dict[str, Any]], None],
) -> dict[str, Any]:
    """Chunks by choice index into one answer: the head of the first chunk, the last usage seen,
    each choice's last finish_reason; `merge` adds what else a choice's chunk carries."""
    choices: dict[Any, dict[str, Any]] = {}
    usage = None
    head: dict[str, Any] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        if not head:
            head = {k: chunk.get(k) for k in ("id", "created", "model")}
        if chunk.get("usage") is not None:
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            slot = choices.setdefault(index, new_slot(index))
            merge(slot, choice)
            if choice.get("finish_reason") is not None:
                slot["finish_reason"] = choice["finish_reason"]
    ordered = [choices[k] for k in sorted(choices, key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, str(k)))]
    return {**head, "object": obj, "choices": ordered, "usage": usage}


def _chat_slot(index: Any) -> dict[str, Any]:
    return {"index": index, "message": {"role": None, "content": None}, "finish_reason": None, "logprobs": None}


def _merge_chat_choice(slot: dict[str, Any], choice: dict[str, Any]) -> None:
    delta = choice.get("delta") or {}
    if delta.get("role") and slot["message"]["role"] is None:
        slot["message"]["role"] = delta["role"]
    if isinstance(delta.get("content"), str):
        slot["message"]["content"] = (slot["message"]["content"] or "") + delta["content"]
    _add_tool_call_deltas(slot, delta.get("tool_calls"))
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        slot["logprobs"] = slot["logprobs"] or {"content": []}
        slot["logprobs"]["content"].extend(logprobs["content"])


def assemble_chat(chunks: list[Any]) -> dict[str, Any]:
    answer = _assemble(chunks, "chat.completion", _chat_slot, _merge_chat_choice)
    for slot in answer["choices"]:
        calls = slot.pop("_calls", None)
        if calls:
            slot["message"]["tool_calls"] = [calls[k] for k in sorted(calls, key=str)]
    return answer


def _add_tool_call_deltas(slot: dict[str, Any], deltas: Any) -> None:
    """Calls by index: id, type and name as first sent, argument fragments concatenated."""
    for delta in deltas if isinstance(deltas, list) else []:
        if not isinstance(delta, dict):
            continue
        calls = slot.setdefault("_calls", {})
        call = calls.setdefault(delta.get("index"), {"id": None, "type": None, "function": {"name": None, "arguments": ""}})
        function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        for key, target in (("id", call), ("type", call)):
            if target.get(key) is None and delta.get(key) is not None:
                target[key] = delta[key]
        if call["function"]["name"] is None and function.get("name") is not None:
            call["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            call["function"]["arguments"] += function["arguments"]


def _completion_slot(index: Any) -> dict[str, Any]:
    return {"index": index, "text": "", "finish_reason": None, "logprobs": None}


def _merge_completion_choice(slot: dict[str, Any], choice: dict[str, Any]) -> None:
    if isinstance(choice.get("text"), str):
        slot["text"] += choice["text"]
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict):
        merged = slot["logprobs"] = slot["logprobs"] or {}
        for key in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
            if isinstance(logprobs.get(key), list):
                merged.setdefault(key, []).extend(logprobs[key])


def assemble_completions(chunks: list[Any]) -> dict[str, Any]:
    """Legacy `text_completion` chunks back into one completion: texts and logprob lists concatenated."""
    return _assemble(chunks, "text_completion", _completion_slot, _merge_completion_choice)


ASSEMBLERS: dict[str, Callable[[list[Any]], dict[str, Any]]] = {
    "chat.completions": assemble_chat,
    "completions": assemble_completions,
    "responses": responses_stream.assemble,
}
