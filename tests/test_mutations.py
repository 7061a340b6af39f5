"""Every check must be able to fail: the real server's answers, altered to break one rule each.

One row per mutation: what the proxy does, which cases to run (the target and unaffected
neighbours), and the verdict and matrix cell each flagged case must get. Every other case in the
selection must still pass and its cell stay supported, so a check that fires on the wrong thing is
caught too. Adding a mutation is one row.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from mutating_proxy import (
    DONE,
    Ctx,
    Mutation,
    RunningProxy,
    endless_stream,
    error,
    hang_after_first_chunk,
    hang_before_headers,
)
from mutation_support import (
    BROKEN,
    IGNORED,
    PASSED,
    REJECTED,
    SCHEMA,
    assert_only_flagged,
    assert_unmutated_passes,
    chat,
    edited_copy,
    edited_or_replaced_copy,
    has,
    plain,
    proxy_fixture,
    streamed,
    strip,
)
from mutation_support import Row as BaseRow

from conformance.api import RunConfig, run_suite

# --- mutation builders ---------------------------------------------------------------------------


def rewrite(when: Callable[[Ctx], bool], **values: Any) -> Mutation:
    return Mutation(when=when, request=lambda j: {**j, **values})


def body(
    fn: Callable[[dict[str, Any]], None], when: Callable[[Ctx], bool] = plain, statuses: tuple[int, ...] = (200,)
) -> Mutation:
    """Alter the non-streamed JSON answer in place (by default only a 200 answer)."""
    return Mutation(when=when, body=edited_copy(fn), statuses=statuses)


def chunks(fn: Callable[[list[Any]], list[Any] | None], when: Callable[[Ctx], bool] = streamed) -> Mutation:
    """Alter the list of stream events (chunk dicts, then DONE)."""
    return Mutation(when=when, events=edited_or_replaced_copy(fn))


def refuse(when: Callable[[Ctx], bool], status: int = 400, param: str | None = None) -> Mutation:
    envelope = {"error": {"message": "Unsupported parameter", "type": "invalid_request_error", "param": param, "code": None}}
    return Mutation(when=when, respond=error(status, envelope))


def content_chunks(events: list[Any]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"].get("content")]


def set_(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """body(set_("choices.0.finish_reason", "done")): set a field by dotted path."""

    def apply(b: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = b
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value(target[last]) if callable(value) else value

    return apply


_DELETE = object()


def each_choice(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda b: [fn(c) for c in b["choices"]] and None


def stop_appended(b: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The server leaves the stop string in the output."""
    b = copy.deepcopy(b)
    stop = ctx.param("stop")
    stop = stop[-1] if isinstance(stop, list) else stop
    if b["choices"][0]["finish_reason"] == "stop":
        b["choices"][0]["message"]["content"] += stop
    return b


def first_logprob(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda b: fn(b["choices"][0]["logprobs"]["content"][0])


def logprobs_change_output(b: dict[str, Any]) -> None:
    choice = b["choices"][0]
    choice["message"]["content"] += " indeed"
    choice["logprobs"]["content"].append({"token": " indeed", "logprob": -0.1, "bytes": None, "top_logprobs": []})
    b["usage"]["completion_tokens"] += 1
    b["usage"]["total_tokens"] += 1


def negative_bias_dropped(j: dict[str, Any]) -> dict[str, Any]:
    return {**j, "logit_bias": {k: v for k, v in (j.get("logit_bias") or {}).items() if v > 0}}


def no_role(events: list[Any]) -> None:
    events[0]["choices"][0]["delta"].pop("role", None)


def other_id(events: list[Any]) -> None:
    events[1]["id"] = "chatcmpl-somethingelse"


def early_finish(events: list[Any]) -> None:
    content_chunks(events)[0]["choices"][0]["finish_reason"] = "stop"


def drop_done(events: list[Any]) -> list[Any]:
    return [e for e in events if e != DONE]


def drop_usage_chunk(events: list[Any]) -> list[Any]:
    return [e for e in events if not (isinstance(e, dict) and e.get("choices") == [])]


def usage_on_last_choice_chunk(events: list[Any]) -> list[Any]:
    """llama-server's way: the usage rides on the last choice chunk, no chunk of its own."""
    usage = next(e["usage"] for e in events if isinstance(e, dict) and e.get("choices") == [])
    kept = drop_usage_chunk(events)
    last = [e for e in kept if isinstance(e, dict)][-1]
    last["usage"] = usage
    return kept


def usage_everywhere(events: list[Any]) -> None:
    for e in events:
        if isinstance(e, dict):
            e["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


def drop_created(events: list[Any]) -> None:
    for e in events:
        if isinstance(e, dict):
            e.pop("created", None)


def altered_text(events: list[Any]) -> None:
    content_chunks(events)[-1]["choices"][0]["delta"]["content"] += " (edited)"


def usage_off_by_one(events: list[Any]) -> None:
    usage = next(e for e in events if isinstance(e, dict) and e.get("choices") == [])["usage"]
    usage["completion_tokens"] += 1
    usage["total_tokens"] += 1


def _has_image(ctx: Ctx) -> bool:
    return ctx.chat and "image_url" in json.dumps(ctx.json)


def _image_parts(j: dict[str, Any], replacement: dict[str, Any] | None) -> dict[str, Any]:
    """Each image part replaced (None: dropped), as a server that cannot see would do before the model."""
    j = copy.deepcopy(j)
    for message in j["messages"]:
        if isinstance(message.get("content"), list):
            parts = [replacement if p.get("type") == "image_url" else p for p in message["content"]]
            message["content"] = [p for p in parts if p is not None]
    return j


def same_index(b: dict[str, Any]) -> None:
    for c in b["choices"]:
        c["index"] = 0


SERVED_MODEL: dict[str, str] = {}  # filled by the proxy fixture: the model the server really has


def model_replaced(j: dict[str, Any]) -> dict[str, Any]:
    """The server ignores the model field and answers with whatever it has."""
    return {**j, "model": SERVED_MODEL["id"]}


# --- the table -----------------------------------------------------------------------------------


@dataclass
class Row(BaseRow):
    timeout: float = 60.0
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


R = Row
ROWS = [
    # /v1/models
    R("models_list_missing_owned_by", body(lambda b: [m.pop("owned_by") for m in b["data"]] and None, when=lambda c: c.path == "/models"), ["models.*"], {"models.list": SCHEMA}),
    R("models_list_wrong_object", body(set_("object", "page"), when=lambda c: c.path == "/models"), ["models.list", "models.retrieve.unknown"], {"models.list": SCHEMA}),
    R("models_retrieve_other_object", body(set_("created", lambda v: v + 1), when=lambda c: c.path.startswith("/models/")), ["models.retrieve", "models.list"], {"models.retrieve": IGNORED}),
    R("models_unknown_fastapi_404", Mutation(when=lambda c: "no-such-model" in c.path, respond=error(404, {"detail": "Not Found"})), ["models.*"], {"models.retrieve.unknown": SCHEMA}),
    R("models_unknown_200", Mutation(when=lambda c: "no-such-model" in c.path, respond=error(200, {"id": "x", "object": "model", "created": 1, "owned_by": "o"})), ["models.retrieve.unknown"], {"models.retrieve.unknown": IGNORED}),
    # shape of a chat completion
    R("chat_missing_created", body(set_("created", _DELETE), when=lambda c: plain(c) and c.param("max_tokens") == 16 and len(c.param("messages")) == 1), ["chat.basic", "chat.model.unknown"], {"chat.basic": SCHEMA}),
    R("chat_bad_finish_reason", body(set_("choices.0.finish_reason", "done")), ["chat.basic", "chat.errors.malformed_json"], {"chat.basic": SCHEMA}),
    R("chat_wrong_role", body(set_("choices.0.message.role", "model")), ["chat.basic"], {"chat.basic": SCHEMA}),
    R("chat_logprobs_unasked", body(set_("choices.0.logprobs", {"content": None, "refusal": None})), ["chat.basic"], {"chat.basic": IGNORED}),
    R("chat_non_json_answer", Mutation(when=has("user"), respond=error(200, "<html>ok</html>", "text/html")), ["chat.user", "chat.usage"], {"chat.user": BROKEN}),
    R("chat_usage_total_wrong", body(set_("usage.total_tokens", lambda v: v + 1)), ["chat.usage", "chat.basic"], {"chat.usage": IGNORED}),
    # the details are optional in the spec: leaving them out is conformant (a note), a wrong type is not
    R("chat_usage_no_details", body(set_("usage.prompt_tokens_details", _DELETE)), ["chat.usage", "chat.basic"], {"chat.usage": PASSED}),
    R("chat_usage_details_wrong_type", body(set_("usage.prompt_tokens_details", {"cached_tokens": "none"})), ["chat.usage", "chat.basic"], {"chat.usage": SCHEMA}),
    # messages and roles
    R("content_parts_dropped", Mutation(when=lambda c: c.chat and isinstance(c.param("messages")[0]["content"], list), request=lambda j: {**j, "messages": [{"role": "user", "content": "Hello"}]}), ["chat.messages.content_parts", "chat.messages.system"], {"chat.messages.content_parts": IGNORED}),
    R("system_dropped", Mutation(when=chat, request=lambda j: {**j, "messages": [m for m in j["messages"] if m["role"] != "system"]}), ["chat.messages.system", "chat.messages.developer"], {"chat.messages.system": IGNORED}),
    R("developer_refused", refuse(lambda c: c.chat and any(m["role"] == "developer" for m in c.param("messages")), param="messages"), ["chat.messages.developer", "chat.messages.system"], {"chat.messages.developer": REJECTED}),
    R("assistant_dropped", Mutation(when=chat, request=lambda j: {**j, "messages": [m for m in j["messages"] if m["role"] != "assistant" or m.get("tool_calls")]}), ["chat.messages.assistant", "chat.messages.tool"], {"chat.messages.assistant": IGNORED}),
    R("tool_result_ignored", Mutation(when=chat, request=lambda j: {**j, "messages": [{**m, "content": "ok"} if m["role"] == "tool" else m for m in j["messages"]]}), ["chat.messages.tool"], {"chat.messages.tool": IGNORED}),
    R("unknown_model_served", Mutation(when=lambda c: c.chat and "no-such-model" in str(c.param("model")), request=model_replaced), ["chat.model.unknown", "chat.errors.unknown_model"], {"chat.model.unknown": IGNORED, "chat.errors.unknown_model": IGNORED}),
    R("user_refused", refuse(has("user"), param="user"), ["chat.user", "chat.usage"], {"chat.user": REJECTED}),
    # sampling
    R("temperature_forced_zero", rewrite(lambda c: c.chat and c.param("temperature") == 2, temperature=0), ["chat.temperature.*", "chat.seed.repeatable"], {"chat.temperature.high_varies": IGNORED}),
    R("top_p_ignored", strip("top_p"), ["chat.top_p.*", "chat.temperature.zero_repeatable"], {"chat.top_p.tiny_is_greedy": IGNORED}),
    R("seed_ignored", Mutation(when=has("seed"), request=lambda j: {**j, "seed": time.monotonic_ns() % 100000}), ["chat.seed.repeatable", "chat.top_p.tiny_is_greedy"], {"chat.seed.repeatable": IGNORED}),
    R("n_ignored", Mutation(when=lambda c: c.chat and (c.param("n") or 1) > 1, request=lambda j: {k: v for k, v in j.items() if k != "n"}), ["chat.n.*", "chat.stream.n", "chat.errors.n_zero"], {"chat.n.three_choices": IGNORED, "chat.stream.n": PASSED}),
    R("n_same_index", body(same_index, when=lambda c: plain(c) and c.param("n") == 3), ["chat.n.three_choices"], {"chat.n.three_choices": IGNORED}),
    R("presence_penalty_ignored", strip("presence_penalty"), ["chat.*_penalty.*"], {"chat.presence_penalty.changes_output": IGNORED}),
    R("frequency_penalty_ignored", strip("frequency_penalty"), ["chat.*_penalty.*"], {"chat.frequency_penalty.changes_output": IGNORED}),
    R("presence_penalty_500", Mutation(when=has("presence_penalty"), respond=error(500, {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}})), ["chat.*_penalty.*"], {"chat.presence_penalty.changes_output": BROKEN}),
    # length and stop
    R("max_tokens_overrun", rewrite(lambda c: c.chat and c.param("max_tokens") == 3, max_tokens=6), ["chat.max_tokens.*", "chat.max_completion_tokens.*"], {"chat.max_tokens.truncates": IGNORED}),
    R("max_completion_tokens_overrun", rewrite(lambda c: c.chat and c.param("max_completion_tokens") == 3, max_completion_tokens=6), ["chat.max_*"], {"chat.max_completion_tokens.truncates": IGNORED}),
    R("length_reported_as_stop", body(set_("choices.0.finish_reason", "stop"), when=lambda c: plain(c) and 3 in (c.param("max_tokens"), c.param("max_completion_tokens"))), ["chat.max_*", "chat.stop.absent"], {"chat.max_tokens.truncates": IGNORED, "chat.max_completion_tokens.truncates": IGNORED}),
    # vision: the reference server refuses images, so the proxy plays a server that takes them
    R("image_seen_as_text", Mutation(when=_has_image, request=lambda j: _image_parts(j, {"type": "text", "text": "[a picture: a red disc on a blue ground]"})), ["chat.messages.image_url"], {}),
    R("image_dropped", Mutation(when=_has_image, request=lambda j: _image_parts(j, None)), ["chat.messages.image_url"], {"chat.messages.image_url": IGNORED}),
    R("stop_ignored", strip("stop"), ["chat.stop.*"], {"chat.stop.string": IGNORED, "chat.stop.list": IGNORED}),
    R("stop_string_kept", Mutation(when=lambda c: plain(c) and "stop" in c.json, body=stop_appended), ["chat.stop.*"], {"chat.stop.string": IGNORED, "chat.stop.list": IGNORED}),
    # logit_bias
    R("logit_bias_ignored", strip("logit_bias"), ["chat.logit_bias.*"], {"chat.logit_bias.ban": IGNORED, "chat.logit_bias.force": IGNORED}),
    R("negative_bias_ignored", Mutation(when=has("logit_bias"), request=negative_bias_dropped), ["chat.logit_bias.*"], {"chat.logit_bias.ban": IGNORED}),
    R("large_logit_bias_refused", refuse(lambda c: c.chat and len(c.param("logit_bias") or {}) > 300, param="logit_bias"), ["chat.logit_bias.*"], {"chat.logit_bias.ban": REJECTED}),
    # logprobs
    R("logprobs_dropped", body(set_("choices.0.logprobs", None), when=has("logprobs")), ["chat.*logprobs.*"], {"chat.logprobs.tokens": IGNORED, "chat.top_logprobs.count": IGNORED}),
    R("logprob_token_wrong", body(first_logprob(lambda e: e.update(token="X" + e["token"])), when=lambda c: has("logprobs")(c) and "top_logprobs" not in c.json), ["chat.*logprobs.*"], {"chat.logprobs.tokens": IGNORED}),
    R("logprob_positive", body(first_logprob(lambda e: e.update(logprob=0.5)), when=lambda c: has("logprobs")(c) and "top_logprobs" not in c.json), ["chat.*logprobs.*"], {"chat.logprobs.tokens": IGNORED}),
    R("logprob_minus_infinity", body(first_logprob(lambda e: e.update(logprob=-math.inf)), when=lambda c: has("logprobs")(c) and "top_logprobs" not in c.json), ["chat.*logprobs.*"], {"chat.logprobs.tokens": BROKEN}),
    R("stream_chunk_nan", chunks(lambda events: events[0].update(created=math.nan)), ["chat.stream.framing"], {"chat.stream.framing": SCHEMA}),
    R("logprobs_change_output", body(logprobs_change_output, when=lambda c: has("logprobs")(c) and "top_logprobs" not in c.json), ["chat.*logprobs.*"], {"chat.logprobs.tokens": IGNORED}),
    R("top_logprobs_short", body(lambda b: [e.update(top_logprobs=e["top_logprobs"][:1]) for e in b["choices"][0]["logprobs"]["content"]] and None, when=has("top_logprobs")), ["chat.*logprobs.*"], {"chat.top_logprobs.count": IGNORED}),
    R("top_logprobs_not_led_by_choice", body(lambda b: [e["top_logprobs"].reverse() for e in b["choices"][0]["logprobs"]["content"]] and None, when=has("top_logprobs")), ["chat.top_logprobs.count"], {"chat.top_logprobs.count": IGNORED}),
    # streaming
    R("stream_no_done", chunks(drop_done), ["chat.stream.*"], {"chat.stream.framing": SCHEMA, "chat.stream.include_usage": SCHEMA}),
    R("stream_role_missing", chunks(no_role, when=lambda c: streamed(c) and "n" not in c.json), ["chat.stream.framing", "chat.stream.same_text", "chat.stream.n"], {"chat.stream.framing": SCHEMA}),
    R("stream_ids_differ", chunks(other_id), ["chat.stream.framing", "chat.stream.same_text"], {"chat.stream.framing": SCHEMA}),
    R("stream_finish_early", chunks(early_finish, when=lambda c: streamed(c) and "n" not in c.json), ["chat.stream.framing", "chat.stream.n"], {"chat.stream.framing": IGNORED}),
    R("stream_stray_line", Mutation(when=streamed, raw=lambda t: t.replace("\n\n", "\n\nnot-a-field\n", 1)), ["chat.stream.framing", "chat.stream.same_text"], {"chat.stream.framing": SCHEMA}),
    R("stream_unparsable_chunk", Mutation(when=streamed, raw=lambda t: t.replace("\n\n", "\n\ndata: {broken\n\n", 1)), ["chat.stream.framing", "chat.basic"], {"chat.stream.framing": BROKEN}),
    R("stream_chunk_schema", chunks(drop_created), ["chat.stream.framing", "chat.stream.include_usage"], {"chat.stream.framing": SCHEMA, "chat.stream.include_usage": SCHEMA}),
    R("stream_wrong_content_type", Mutation(when=streamed, content_type="application/json"), ["chat.stream.framing", "chat.stream.same_text"], {"chat.stream.framing": IGNORED}),
    R("stream_text_differs", chunks(altered_text), ["chat.stream.framing", "chat.stream.same_text"], {"chat.stream.same_text": IGNORED}),
    R("stream_usage_chunk_missing", chunks(drop_usage_chunk), ["chat.stream.framing", "chat.stream.include_usage"], {"chat.stream.include_usage": IGNORED}),
    R("stream_usage_on_last_choice", chunks(usage_on_last_choice_chunk, when=lambda c: streamed(c) and "stream_options" in c.json), ["chat.stream.include_usage"], {"chat.stream.include_usage": SCHEMA}),
    R("stream_usage_unasked", chunks(usage_everywhere, when=lambda c: streamed(c) and "stream_options" not in c.json), ["chat.stream.framing", "chat.stream.include_usage"], {"chat.stream.framing": SCHEMA}),
    R("stream_usage_wrong", chunks(usage_off_by_one, when=lambda c: streamed(c) and "stream_options" in c.json), ["chat.stream.include_usage"], {"chat.stream.include_usage": IGNORED}),
    R("stream_hangs", Mutation(when=lambda c: streamed(c) and "n" not in c.json, respond=hang_after_first_chunk), ["chat.stream.framing", "chat.stream.n"], {"chat.stream.framing": BROKEN}, timeout=6),
    R("stream_endless", Mutation(when=lambda c: streamed(c) and "n" not in c.json, respond=endless_stream), ["chat.stream.framing", "chat.stream.n"], {"chat.stream.framing": BROKEN}, timeout=6),
    R("hang_before_headers", Mutation(when=has("user"), respond=hang_before_headers), ["chat.user", "chat.usage"], {"chat.user": BROKEN}, timeout=6),
    # error envelopes
    R("malformed_json_fastapi", Mutation(when=lambda c: c.chat and c.json is None, respond=error(422, {"detail": [{"msg": "JSON decode error"}]})), ["chat.errors.malformed_json", "chat.errors.wrong_type"], {"chat.errors.malformed_json": IGNORED}),
    R("missing_param_unnamed", body(set_("error.param", None), when=lambda c: c.chat and "messages" not in (c.json or {}), statuses=(400,)), ["chat.errors.missing_messages"], {"chat.errors.missing_messages": IGNORED}),
    R("temperature_clamped", rewrite(lambda c: c.chat and c.param("temperature") == 3, temperature=2), ["chat.errors.temperature_range", "chat.errors.n_zero"], {"chat.errors.temperature_range": IGNORED}),
    R("stops_truncated", Mutation(when=lambda c: c.chat and len(c.param("stop") or []) > 4, request=lambda j: {**j, "stop": j["stop"][:4]}), ["chat.errors.too_many_stops"], {"chat.errors.too_many_stops": IGNORED}),
    R("top_logprobs_500", Mutation(when=lambda c: c.chat and (c.param("top_logprobs") or 0) > 20, respond=error(500, "Internal Server Error", "text/plain")), ["chat.errors.top_logprobs_range", "chat.errors.n_zero"], {"chat.errors.top_logprobs_range": BROKEN}),
    R("wrong_type_unnamed", body(set_("error.param", None), when=lambda c: c.chat and isinstance(c.param("messages"), str), statuses=(400,)), ["chat.errors.wrong_type"], {"chat.errors.wrong_type": IGNORED}),
    R("error_as_text_plain", Mutation(when=lambda c: c.chat and "no-such-model" in str(c.param("model")), content_type="text/plain"), ["chat.errors.unknown_model", "chat.model.unknown"], {"chat.errors.unknown_model": IGNORED}),
]


proxy = proxy_fixture(ROWS, SERVED_MODEL)


def test_table_names_are_unique() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)


def test_unmutated_proxy_passes(proxy: RunningProxy) -> None:
    """The proxy itself changes nothing: a clean pass through it is the baseline for every row."""
    assert_unmutated_passes(proxy, ["chat.stream.framing", "models.list", "chat.basic"])


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_mutation_is_flagged(proxy: RunningProxy, row: Row) -> None:
    results = run_suite(
        RunConfig(base_url=proxy.base_url(row.name), model=row.model, only=row.only, timeout=row.timeout, concurrency=4)
    )
    assert_only_flagged(results, row)
