"""Engine events into chat completions and chunks, built with the `openai` package's own types.

Dumping with `exclude_unset` keeps exactly what OpenAI sends: fields that OpenAI's schema requires
but allows to be null (`logprobs`, `refusal`, `usage` on chunks) are set explicitly, while optional
fields that must not be null (`tool_calls`) are only set when there is something in them.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionTokenLogprob,
)
from openai.types.chat.chat_completion import Choice, ChoiceLogprobs
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_chunk import ChoiceLogprobs as ChunkLogprobs
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.chat.chat_completion_token_logprob import TopLogprob
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails

from .engine import ChoiceDone, JobDone, TextDelta
from .sampling import TokenLogprob
from .tool_calls import CallStart, ContentPiece, Piece, ToolCallParser
from .tools import ToolPlan

_ALPHABET = string.ascii_letters + string.digits


def completion_id() -> str:
    return "chatcmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(29))


def usage(done: JobDone) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=done.cached_tokens, audio_tokens=0),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=0, audio_tokens=0, accepted_prediction_tokens=0, rejected_prediction_tokens=0
        ),
    )


def logprob_entries(items: list[TokenLogprob], token_bytes: Callable[[int], bytes]) -> list[ChatCompletionTokenLogprob]:
    """OpenAI's per-token shape; tokens that split a UTF-8 character show their bytes escaped."""

    def text(token: int) -> tuple[str, list[int]]:
        raw = token_bytes(token)
        return raw.decode("utf-8", errors="backslashreplace"), list(raw)

    entries = []
    for item in items:
        token, raw = text(item.token)
        top = []
        for alt, logprob in item.top:
            alt_text, alt_raw = text(alt)
            top.append(TopLogprob(token=alt_text, logprob=logprob, bytes=alt_raw))
        entries.append(ChatCompletionTokenLogprob(token=token, logprob=item.logprob, bytes=raw, top_logprobs=top))
    return entries


class _Split:
    """One choice's released text as content and tool-call pieces (all content without tools)."""

    def __init__(self, tools: ToolPlan | None) -> None:
        self.parser = ToolCallParser(tools.prefill) if tools is not None else None
        self.forced = bool(tools and tools.forced)

    def initial(self) -> list[Piece]:
        return list(self.parser.initial) if self.parser else []

    def feed(self, text: str) -> list[Piece]:
        if self.parser is None:
            return [ContentPiece(text)] if text else []
        return self.parser.feed(text)

    def finish(self) -> list[Piece]:
        return self.parser.finish() if self.parser else []

    def finish_reason(self, reason: str) -> str:
        """`tool_calls` when the answer made calls and ended by itself."""
        return "tool_calls" if reason == "stop" and self.parser is not None and self.parser.calls else reason


@dataclass
class _ChoiceState:
    split: _Split
    text: list[str] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)  # id, name, arguments
    logprobs: list[ChatCompletionTokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None

    def take(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if isinstance(piece, ContentPiece):
                self.text.append(piece.text)
            elif isinstance(piece, CallStart):
                self.calls.append({"id": piece.id, "name": piece.name, "arguments": ""})
            else:
                self.calls[piece.index]["arguments"] += piece.text

    def message(self) -> ChatCompletionMessage:
        content: str | None = "".join(self.text)
        if not self.calls:
            return ChatCompletionMessage(role="assistant", content=content, refusal=None, annotations=[])
        calls = [
            ChatCompletionMessageFunctionToolCall(
                id=c["id"], type="function", function=Function(name=c["name"], arguments=c["arguments"])
            )
            for c in self.calls
        ]
        return ChatCompletionMessage(role="assistant", content=content or None, refusal=None, annotations=[], tool_calls=calls)


class CompletionCollector:
    """Gathers a job's events into one `ChatCompletion` (the non-streamed answer)."""

    def __init__(
        self,
        model: str,
        fingerprint: str,
        n: int,
        logprobs: bool,
        token_bytes: Callable[[int], bytes],
        tools: ToolPlan | None = None,
    ):
        self._model, self._fingerprint, self._logprobs, self._token_bytes = model, fingerprint, logprobs, token_bytes
        self._choices = [_ChoiceState(_Split(tools)) for _ in range(n)]
        for state in self._choices:
            state.take(state.split.initial())
        self._created = int(time.time())

    def add(self, event: TextDelta | ChoiceDone) -> None:
        state = self._choices[event.choice]
        if isinstance(event, TextDelta):
            state.take(state.split.feed(event.text))
            if self._logprobs:
                state.logprobs.extend(logprob_entries(event.logprobs, self._token_bytes))
        else:
            state.take(state.split.finish())
            state.finish_reason = state.split.finish_reason(event.finish_reason)

    def result(self, done: JobDone) -> ChatCompletion:
        choices = [
            Choice(
                index=i,
                message=s.message(),
                finish_reason=s.finish_reason or "stop",
                logprobs=ChoiceLogprobs(content=s.logprobs, refusal=None) if self._logprobs else None,
            )
            for i, s in enumerate(self._choices)
        ]
        return ChatCompletion(
            id=completion_id(),
            object="chat.completion",
            created=self._created,
            model=self._model,
            choices=choices,
            usage=usage(done),
            service_tier="default",
            system_fingerprint=self._fingerprint,
        )


class ChunkBuilder:
    """Chunks of one streamed completion: the same id, created and model on every one of them.

    With tools, a choice's text goes through the tool-call parser: content deltas, then for each
    call a first delta with its index, id, type and name (arguments ""), then argument fragments.
    Logprobs ride on the first chunk their text produced (held until there is one).
    """

    def __init__(
        self,
        model: str,
        fingerprint: str,
        include_usage: bool,
        logprobs: bool,
        token_bytes: Callable[[int], bytes],
        tools: ToolPlan | None = None,
        n: int = 1,
    ):
        self._id, self._created = completion_id(), int(time.time())
        self._model, self._fingerprint = model, fingerprint
        self._include_usage, self._logprobs, self._token_bytes = include_usage, logprobs, token_bytes
        self._splits = [_Split(tools) for _ in range(n)]
        self._pending: list[list[ChatCompletionTokenLogprob]] = [[] for _ in range(n)]

    def _chunk(self, choices: list[ChunkChoice], final_usage: CompletionUsage | None = None) -> ChatCompletionChunk:
        extra = {"usage": final_usage} if self._include_usage else {}
        return ChatCompletionChunk(
            id=self._id,
            object="chat.completion.chunk",
            created=self._created,
            model=self._model,
            choices=choices,
            service_tier="default",
            system_fingerprint=self._fingerprint,
            **extra,
        )

    def _delta(self, choice: int, delta: ChoiceDelta, finish_reason: str | None = None) -> ChatCompletionChunk:
        logprobs = None
        if self._logprobs and self._pending[choice]:
            logprobs = ChunkLogprobs(content=self._pending[choice], refusal=None)
            self._pending[choice] = []
        return self._chunk([ChunkChoice(index=choice, delta=delta, logprobs=logprobs, finish_reason=finish_reason)])

    def _pieces(self, choice: int, pieces: list[Piece]) -> list[ChatCompletionChunk]:
        out = []
        for piece in pieces:
            if isinstance(piece, ContentPiece):
                delta = ChoiceDelta(content=piece.text)
            elif isinstance(piece, CallStart):
                call = ChoiceDeltaToolCall(
                    index=piece.index,
                    id=piece.id,
                    type="function",
                    function=ChoiceDeltaToolCallFunction(name=piece.name, arguments=""),
                )
                delta = ChoiceDelta(tool_calls=[call])
            else:
                fragment = ChoiceDeltaToolCallFunction(arguments=piece.text)
                delta = ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(index=piece.index, function=fragment)])
            out.append(self._delta(choice, delta))
        return out

    def role(self, choice: int) -> list[ChatCompletionChunk]:
        split = self._splits[choice]
        delta = ChoiceDelta(role="assistant", content=None if split.forced else "", refusal=None)
        first = self._chunk([ChunkChoice(index=choice, delta=delta, logprobs=None, finish_reason=None)])
        return [first, *self._pieces(choice, split.initial())]

    def text(self, event: TextDelta) -> list[ChatCompletionChunk]:
        split = self._splits[event.choice]
        if self._logprobs:
            self._pending[event.choice].extend(logprob_entries(event.logprobs, self._token_bytes))
        if split.parser is None:  # plain text: one chunk per delta, as it comes
            return [self._delta(event.choice, ChoiceDelta(content=event.text))]
        return self._pieces(event.choice, split.feed(event.text))

    def finish(self, event: ChoiceDone) -> list[ChatCompletionChunk]:
        split = self._splits[event.choice]
        out = self._pieces(event.choice, split.finish())
        # Logprobs of tokens that produced no delta of their own (a call's closing tag) end here.
        out.append(self._delta(event.choice, ChoiceDelta(), split.finish_reason(event.finish_reason)))
        return out

    @property
    def wants_usage(self) -> bool:
        return self._include_usage

    def usage(self, done: JobDone) -> ChatCompletionChunk:
        return self._chunk([], final_usage=usage(done))
