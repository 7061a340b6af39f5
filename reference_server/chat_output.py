"""Engine events into chat completions and chunks, built with the `openai` package's own types.

Dumping with `exclude_unset` keeps exactly what OpenAI sends: fields that OpenAI's schema requires
but allows to be null (`logprobs`, `refusal`, `usage` on chunks) are set explicitly, while optional
fields that must not be null (`tool_calls`, `annotations`) are simply never set.
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
    ChatCompletionTokenLogprob,
)
from openai.types.chat.chat_completion import Choice, ChoiceLogprobs
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from openai.types.chat.chat_completion_chunk import ChoiceLogprobs as ChunkLogprobs
from openai.types.chat.chat_completion_token_logprob import TopLogprob
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails

from .engine import ChoiceDone, JobDone, TextDelta
from .sampling import TokenLogprob

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


@dataclass
class _ChoiceState:
    text: list[str] = field(default_factory=list)
    logprobs: list[ChatCompletionTokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None


class CompletionCollector:
    """Gathers a job's events into one `ChatCompletion` (the non-streamed answer)."""

    def __init__(self, model: str, fingerprint: str, n: int, logprobs: bool, token_bytes: Callable[[int], bytes]):
        self._model, self._fingerprint, self._logprobs, self._token_bytes = model, fingerprint, logprobs, token_bytes
        self._choices = [_ChoiceState() for _ in range(n)]
        self._created = int(time.time())

    def add(self, event: TextDelta | ChoiceDone) -> None:
        state = self._choices[event.choice]
        if isinstance(event, TextDelta):
            state.text.append(event.text)
            if self._logprobs:
                state.logprobs.extend(logprob_entries(event.logprobs, self._token_bytes))
        else:
            state.finish_reason = event.finish_reason

    def result(self, done: JobDone) -> ChatCompletion:
        choices = [
            Choice(
                index=i,
                message=ChatCompletionMessage(
                    role="assistant", content="".join(s.text), refusal=None, annotations=[]
                ),
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
    """Chunks of one streamed completion: the same id, created and model on every one of them."""

    def __init__(self, model: str, fingerprint: str, include_usage: bool, logprobs: bool, token_bytes: Callable[[int], bytes]):
        self._id, self._created = completion_id(), int(time.time())
        self._model, self._fingerprint = model, fingerprint
        self._include_usage, self._logprobs, self._token_bytes = include_usage, logprobs, token_bytes

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

    def role(self, choice: int) -> ChatCompletionChunk:
        delta = ChoiceDelta(role="assistant", content="", refusal=None)
        return self._chunk([ChunkChoice(index=choice, delta=delta, logprobs=None, finish_reason=None)])

    def text(self, event: TextDelta) -> ChatCompletionChunk:
        logprobs = None
        if self._logprobs:
            logprobs = ChunkLogprobs(content=logprob_entries(event.logprobs, self._token_bytes), refusal=None)
        delta = ChoiceDelta(content=event.text)
        return self._chunk([ChunkChoice(index=event.choice, delta=delta, logprobs=logprobs, finish_reason=None)])

    def finish(self, event: ChoiceDone) -> ChatCompletionChunk:
        return self._chunk(
            [ChunkChoice(index=event.choice, delta=ChoiceDelta(), logprobs=None, finish_reason=event.finish_reason)]
        )

    @property
    def wants_usage(self) -> bool:
        return self._include_usage

    def usage(self, done: JobDone) -> ChatCompletionChunk:
        return self._chunk([], final_usage=usage(done))
