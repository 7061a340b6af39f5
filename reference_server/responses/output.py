"""Engine events into a Response object and its stream of events, built with the `openai` types.

One `ResponseDraft` per request turns the released text into output items: a message for text and,
with tools, a function_call item per call (the chat path's `ToolCallParser` splits the text). Every
step is reported as a `Change` (an item opened, text or arguments added, an item closed), which
`EventSequence` turns into OpenAI's events with consecutive `sequence_number`s. The response object
is rendered from the same draft, so the streamed and non-streamed answers agree by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses import response_output_text as output_text
from openai.types.responses import response_text_delta_event as delta_event
from openai.types.responses.response_error import ResponseError
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from ..engine import ChoiceDone, JobDone, TextDelta
from ..sampling import TokenLogprob
from ..tool_calls import ArgumentsPiece, CallStart, ContentPiece, Piece, ToolCallParser
from .conversation import new_id
from .plan import ResponsePlan

Status = Literal["in_progress", "completed", "incomplete", "failed"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]


def usage(done: JobDone) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=done.prompt_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=done.cached_tokens, cache_write_tokens=0),
        output_tokens=done.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),  # the model does not reason
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )


# --- output items as they are generated, and the steps that report them ---------------------------


@dataclass
class _Message:
    id: str
    texts: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    done: bool = False

    @property
    def text(self) -> str:
        return "".join(self.texts)


@dataclass
class _Call:
    id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True)
class Opened:
    index: int


@dataclass(frozen=True)
class TextAdded:
    index: int
    text: str
    logprobs: list[TokenLogprob]


@dataclass(frozen=True)
class ArgumentsAdded:
    index: int
    text: str


@dataclass(frozen=True)
class Closed:
    index: int


Change = Opened | TextAdded | ArgumentsAdded | Closed


class ResponseDraft:
    """The response being generated: its identity, the request's settings and the items so far."""

    def __init__(self, plan: ResponsePlan, model: str, token_bytes: Callable[[int], bytes]) -> None:
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self._plan, self._model, self._token_bytes = plan, model, token_bytes
        self._parser = ToolCallParser(plan.tools.prefill) if plan.tools else None
        self.items: list[_Message | _Call] = []
        self._call_items: dict[int, int] = {}  # the parser's call number -> item index
        self.finish_reason: str | None = None
        self.usage: ResponseUsage | None = None
        self.pending = self._take(self._parser.initial if self._parser else [], [])  # a forced call's opening

    @property
    def incomplete(self) -> bool:
        return self.finish_reason == "length"

    # -- generation -------------------------------------------------------------------------------

    def feed(self, event: TextDelta) -> list[Change]:
        if self._parser is None:
            pieces: list[Piece] = [ContentPiece(event.text)] if event.text else []
        else:
            pieces = self._parser.feed(event.text)
        return self._take(pieces, event.logprobs)

    def end(self, event: ChoiceDone) -> list[Change]:
        """Generation stopped: release held-back text and close the last item (there is always one)."""
        self.finish_reason = event.finish_reason
        changes = self._take(self._parser.finish() if self._parser else [], [])
        if not self.items:
            changes += self._open(_Message(new_id("msg")))
        return changes + self._close_last()

    def finish(self, done: JobDone) -> None:
        self.usage = usage(done)

    def _take(self, pieces: list[Piece], logprobs: list[TokenLogprob]) -> list[Change]:
        changes: list[Change] = []
        for piece in pieces:
            if isinstance(piece, ContentPiece):
                if not piece.text:
                    continue
                last = self.items[-1] if self.items else None
                if not isinstance(last, _Message) or last.done:
                    changes += self._close_last() + self._open(_Message(new_id("msg")))
                message = self.items[-1]
                assert isinstance(message, _Message)
                message.texts.append(piece.text)
                message.logprobs.extend(logprobs)
                changes.append(TextAdded(len(self.items) - 1, piece.text, logprobs))
                logprobs = []  # a delta's logprobs go with its first text
            elif isinstance(piece, CallStart):
                changes += self._close_last() + self._open(_Call(new_id("fc"), piece.id, piece.name))
                self._call_items[piece.index] = len(self.items) - 1
            elif isinstance(piece, ArgumentsPiece):
                index = self._call_items[piece.index]
                call = self.items[index]
                assert isinstance(call, _Call)
                call.arguments.append(piece.text)
                changes.append(ArgumentsAdded(index, piece.text))
        return changes

    def _open(self, item: _Message | _Call) -> list[Change]:
        self.items.append(item)
        return [Opened(len(self.items) - 1)]

    def _close_last(self) -> list[Change]:
        if not self.items or self.items[-1].done:
            return []
        self.items[-1].done = True
        return [Closed(len(self.items) - 1)]

    # -- rendering --------------------------------------------------------------------------------

    def status_of(self, index: int) -> ItemStatus:
        item = self.items[index]
        if not item.done:
            return "in_progress"
        return "incomplete" if self.incomplete and index == len(self.items) - 1 else "completed"

    def part(self, message: _Message, *, empty: bool = False) -> ResponseOutputText:
        logprobs = [self._output_logprob(t) for t in message.logprobs] if self._plan.logprobs and not empty else []
        return ResponseOutputText(type="output_text", text="" if empty else message.text, annotations=[], logprobs=logprobs)

    def item(self, index: int, *, opening: bool = False) -> ResponseOutputMessage | ResponseFunctionToolCall:
        item = self.items[index]
        status = "in_progress" if opening else self.status_of(index)
        if isinstance(item, _Message):
            content = [] if opening else [self.part(item)]
            return ResponseOutputMessage(id=item.id, type="message", role="assistant", status=status, content=content)
        return ResponseFunctionToolCall(
            id=item.id,
            type="function_call",
            call_id=item.call_id,
            name=item.name,
            arguments="" if opening else "".join(item.arguments),
            status=status,
        )

    def response(self, status: Status, error: str | None = None) -> Response:
        final = status in ("completed", "incomplete")
        fields: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if final else None,
            "error": ResponseError(code="server_error", message=error) if error else None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "model": self._model,
            "output": [self.item(i) for i in range(len(self.items))] if final else [],
            **self._plan.echo,
        }
        if final:  # the spec has no null usage: an unfinished response has none
            fields["usage"] = self.usage
        return Response(**fields)

    def delta_logprobs(self, logprobs: list[TokenLogprob]) -> list[delta_event.Logprob]:
        if not self._plan.logprobs:
            return []
        return [
            delta_event.Logprob(
                token=self._token(t.token),
                logprob=t.logprob,
                top_logprobs=[delta_event.LogprobTopLogprob(token=self._token(a), logprob=lp) for a, lp in t.top],
            )
            for t in logprobs
        ]

    def _token(self, token: int) -> str:
        return self._token_bytes(token).decode("utf-8", errors="backslashreplace")

    def _output_logprob(self, item: TokenLogprob) -> output_text.Logprob:
        return output_text.Logprob(
            token=self._token(item.token),
            bytes=list(self._token_bytes(item.token)),
            logprob=item.logprob,
            top_logprobs=[
                output_text.LogprobTopLogprob(token=self._token(a), bytes=list(self._token_bytes(a)), logprob=lp)
                for a, lp in item.top
            ],
        )


class EventSequence:
    """OpenAI's stream for one response: lifecycle events around each item's events, numbered from 0."""

    def __init__(self, draft: ResponseDraft) -> None:
        self._draft = draft
        self._next = 0

    def _seq(self) -> int:
        self._next += 1
        return self._next - 1

    def start(self) -> list[ResponseStreamEvent]:
        d = self._draft
        opening = [
            ResponseCreatedEvent(type="response.created", response=d.response("in_progress"), sequence_number=self._seq()),
            ResponseInProgressEvent(type="response.in_progress", response=d.response("in_progress"), sequence_number=self._seq()),
        ]
        return opening + self.changes(d.pending)

    def changes(self, changes: list[Change]) -> list[ResponseStreamEvent]:
        out: list[ResponseStreamEvent] = []
        for change in changes:
            out += self._events(change)
        return out

    def _events(self, change: Change) -> list[ResponseStreamEvent]:
        d = self._draft
        item = d.items[change.index]
        where: dict[str, Any] = {"item_id": item.id, "output_index": change.index}
        if isinstance(change, Opened):
            added = ResponseOutputItemAddedEvent(
                type="response.output_item.added", output_index=change.index, item=d.item(change.index, opening=True), sequence_number=self._seq()
            )
            if not isinstance(item, _Message):
                return [added]
            part = ResponseContentPartAddedEvent(
                type="response.content_part.added", **where, content_index=0, part=d.part(item, empty=True), sequence_number=self._seq()
            )
            return [added, part]
        if isinstance(change, TextAdded):
            return [
                ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    **where,
                    content_index=0,
                    delta=change.text,
                    logprobs=d.delta_logprobs(change.logprobs),
                    sequence_number=self._seq(),
                )
            ]
        if isinstance(change, ArgumentsAdded):
            return [
                ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta", **where, delta=change.text, sequence_number=self._seq()
                )
            ]
        done_item = d.item(change.index)
        closing: list[ResponseStreamEvent]
        if isinstance(item, _Message):
            part = d.part(item)
            closing = [
                ResponseTextDoneEvent(
                    type="response.output_text.done", **where, content_index=0, text=item.text, logprobs=part.logprobs or [], sequence_number=self._seq()
                ),
                ResponseContentPartDoneEvent(type="response.content_part.done", **where, content_index=0, part=part, sequence_number=self._seq()),
            ]
        else:
            closing = [
                ResponseFunctionCallArgumentsDoneEvent(
                    type="response.function_call_arguments.done",
                    **where,
                    name=item.name,  # in the spec's event, not (yet) in the SDK's type
                    arguments="".join(item.arguments),
                    sequence_number=self._seq(),
                )
            ]
        done = ResponseOutputItemDoneEvent(type="response.output_item.done", output_index=change.index, item=done_item, sequence_number=self._seq())
        return [*closing, done]

    def finish(self) -> ResponseStreamEvent:
        d = self._draft
        if d.incomplete:
            return ResponseIncompleteEvent(type="response.incomplete", response=d.response("incomplete"), sequence_number=self._seq())
        return ResponseCompletedEvent(type="response.completed", response=d.response("completed"), sequence_number=self._seq())

    def failed(self, message: str) -> ResponseStreamEvent:
        return ResponseFailedEvent(
            type="response.failed", response=self._draft.response("failed", error=message), sequence_number=self._seq()
        )
