"""Engine events into a Response object and its stream of events, built with the `openai` types.

One `ResponseDraft` per request gathers the generated text; it renders the response object at any
stage (in progress for `response.created`, then completed or incomplete), and `EventSequence` turns
the same draft into OpenAI's event sequence with consecutive `sequence_number`s. The streamed and
non-streamed answers are therefore the same object, by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
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
from .conversation import new_id
from .plan import ResponsePlan

Status = Literal["in_progress", "completed", "incomplete", "failed"]


def usage(done: JobDone) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=done.prompt_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=done.cached_tokens, cache_write_tokens=0),
        output_tokens=done.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),  # the model does not reason
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )


class ResponseDraft:
    """The response being generated: its fixed identity, the request's settings and the text so far."""

    def __init__(self, plan: ResponsePlan, model: str, token_bytes: Callable[[int], bytes]) -> None:
        self.id = new_id("resp")
        self.message_id = new_id("msg")
        self.created_at = int(time.time())
        self._plan, self._model, self._token_bytes = plan, model, token_bytes
        self._text: list[str] = []
        self._logprobs: list[TokenLogprob] = []
        self.finish_reason: str | None = None
        self.usage: ResponseUsage | None = None

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def incomplete(self) -> bool:
        return self.finish_reason == "length"

    def add(self, event: TextDelta | ChoiceDone) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            self._logprobs.extend(event.logprobs)
        else:
            self.finish_reason = event.finish_reason

    def finish(self, done: JobDone) -> None:
        self.usage = usage(done)

    # -- pieces -----------------------------------------------------------------------------------

    def part(self, text: str | None = None) -> ResponseOutputText:
        logprobs = [self._output_logprob(t) for t in self._logprobs] if text is None and self._plan.logprobs else []
        return ResponseOutputText(
            type="output_text", text=self.text if text is None else text, annotations=[], logprobs=logprobs
        )

    def message(self, status: Literal["in_progress", "completed", "incomplete"]) -> ResponseOutputMessage:
        content = [] if status == "in_progress" else [self.part()]
        return ResponseOutputMessage(id=self.message_id, type="message", role="assistant", status=status, content=content)

    def response(self, status: Status, error: str | None = None) -> Response:
        final = status in ("completed", "incomplete")
        output = [self.message("incomplete" if self.incomplete else "completed")] if final else []
        fields: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if final else None,
            "error": ResponseError(code="server_error", message=error) if error else None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "model": self._model,
            "output": output,
            **self._plan.echo,
        }
        if final:  # the spec has no null usage: an unfinished response has none
            fields["usage"] = self.usage
        return Response(**fields)

    def delta_logprobs(self, event: TextDelta) -> list[delta_event.Logprob]:
        if not self._plan.logprobs:
            return []
        return [
            delta_event.Logprob(
                token=self._token(t.token),
                logprob=t.logprob,
                top_logprobs=[delta_event.LogprobTopLogprob(token=self._token(a), logprob=lp) for a, lp in t.top],
            )
            for t in event.logprobs
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
    """OpenAI's stream for one text answer: lifecycle events around the deltas, numbered from 0."""

    def __init__(self, draft: ResponseDraft) -> None:
        self._draft = draft
        self._next = 0

    def _seq(self) -> int:
        self._next += 1
        return self._next - 1

    def start(self) -> list[ResponseStreamEvent]:
        d = self._draft
        return [
            ResponseCreatedEvent(type="response.created", response=d.response("in_progress"), sequence_number=self._seq()),
            ResponseInProgressEvent(type="response.in_progress", response=d.response("in_progress"), sequence_number=self._seq()),
            ResponseOutputItemAddedEvent(
                type="response.output_item.added", output_index=0, item=d.message("in_progress"), sequence_number=self._seq()
            ),
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=d.message_id,
                output_index=0,
                content_index=0,
                part=d.part(""),
                sequence_number=self._seq(),
            ),
        ]

    def delta(self, event: TextDelta) -> list[ResponseStreamEvent]:
        if not event.text:
            return []
        return [
            ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=self._draft.message_id,
                output_index=0,
                content_index=0,
                delta=event.text,
                logprobs=self._draft.delta_logprobs(event),
                sequence_number=self._seq(),
            )
        ]

    def finish(self) -> list[ResponseStreamEvent]:
        d = self._draft
        part = d.part()
        status = "incomplete" if d.incomplete else "completed"
        terminal: ResponseStreamEvent
        done_text = ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=d.message_id,
            output_index=0,
            content_index=0,
            text=d.text,
            logprobs=part.logprobs or [],
            sequence_number=self._seq(),
        )
        part_done = ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=d.message_id,
            output_index=0,
            content_index=0,
            part=part,
            sequence_number=self._seq(),
        )
        item_done = ResponseOutputItemDoneEvent(
            type="response.output_item.done", output_index=0, item=d.message(status), sequence_number=self._seq()
        )
        if status == "incomplete":
            terminal = ResponseIncompleteEvent(type="response.incomplete", response=d.response(status), sequence_number=self._seq())
        else:
            terminal = ResponseCompletedEvent(type="response.completed", response=d.response(status), sequence_number=self._seq())
        return [done_text, part_done, item_done, terminal]

    def failed(self, message: str) -> ResponseStreamEvent:
        return ResponseFailedEvent(
            type="response.failed", response=self._draft.response("failed", error=message), sequence_number=self._seq()
        )
