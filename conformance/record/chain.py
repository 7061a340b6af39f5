"""Calls that refer to an earlier answer: `previous_response_id`, `GET /responses/{id}`, ...

Replayed alone, such a call would send an id the other provider never issued. So its case starts by
replaying the earlier call(s) it depends on, as baseline steps named `callNNN`, and the recorded id
becomes `${callNNN.body.id}`: the id the provider gives this time. A reference is a request string
(a JSON value or a path segment) equal to the id of an earlier answer; ids are long random strings,
so an accidental match is not a practical concern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from conformance import expressions
from conformance.calls import CallOutcome


class RecordedCall(Protocol):
    """What a chain reads of a recorded call (conformance.record.cassette.RecordedCall).

    A protocol, not the class itself, so the cassette can use the chain without the chain
    importing the cassette back.
    """

    @property
    def seq(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def request_json(self) -> Any: ...
    def outcome(self) -> CallOutcome: ...


# Where an answer carries the id an application would refer to it by (non-streamed, Responses stream).
_ID_PATHS = ("body.id", "assembled.response.id")
_MIN_ID_LENGTH = 8


@dataclass(frozen=True)
class Answer:
    call: RecordedCall
    id: str
    where: str  # the field path to the id in the step's answer: body.id

    @property
    def step(self) -> str:
        return step_name(self.call)

    @property
    def expression(self) -> str:
        return f"${{{self.step}.{self.where}}}"


def step_name(call: RecordedCall) -> str:
    return f"call{call.seq:03d}"


def answer_of(call: RecordedCall, endpoint: str) -> Answer | None:
    """The id a successful answer hands the application, if it has one."""
    if not 200 <= call.status < 300:
        return None
    view = call.outcome().view(endpoint)
    for where in _ID_PATHS:
        try:
            value = expressions.resolve(view, where)
        except expressions.MissingValue:
            continue
        if isinstance(value, str) and len(value) >= _MIN_ID_LENGTH:
            return Answer(call, value, where)
    return None


def referenced(call: RecordedCall, answers: Mapping[str, Answer]) -> list[Answer]:
    """The earlier answers whose ids this call's request contains."""
    found: dict[int, Answer] = {}
    for text in [*call.path.split("?")[0].split("/"), *_strings(call.request_json)]:
        answer = answers.get(text)
        if answer is not None and answer.call.seq < call.seq:
            found[answer.call.seq] = answer
    return [found[seq] for seq in sorted(found)]


def chain(call: RecordedCall, answers: Mapping[str, Answer]) -> list[Answer]:
    """Every earlier answer this call depends on, directly or through another, oldest first."""
    found: dict[int, Answer] = {}
    pending = referenced(call, answers)
    while pending:
        answer = pending.pop()
        if answer.call.seq not in found:
            found[answer.call.seq] = answer
            pending += referenced(answer.call, answers)
    return [found[seq] for seq in sorted(found)]


def substitute(value: Any, refs: list[Answer]) -> Any:
    """Strings equal to a referenced id become the expression for the id given this time."""
    by_id = {a.id: a.expression for a in refs}
    if isinstance(value, str):
        return by_id.get(value, value)
    if isinstance(value, dict):
        return {k: substitute(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, refs) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
