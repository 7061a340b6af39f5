"""Engine events into legacy completions and their stream chunks, built with the `openai` package's types.

Two things OpenAI really sends are outside its own types (and its published schema): a streamed
choice has `finish_reason: null` until its last chunk, and with `echo` + `logprobs` the first prompt
token has a null logprob and null `top_logprobs` (nothing comes before it). Those objects are built
with `model_construct`, everything else is validated on construction.
"""

from __future__ import annotations

import codecs
import math
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from openai.types import Completion, CompletionChoice, CompletionUsage
from openai.types.completion_choice import Logprobs

from .completion_request import CompletionPlan
from .engine import ChoiceDone, JobDone, PromptScored, TextDelta
from .sampling import TokenLogprob

_ALPHABET = string.ascii_letters + string.digits

TokenBytes = Callable[[int], bytes]
Scored = tuple[int, TokenLogprob | None]  # a token id and its logprob record (None: nothing before it)


def completion_id() -> str:
    return "cmpl-" + "".join(secrets.choice(_ALPHABET) for _ in range(29))


@dataclass
class Totals:
    """Token counts over every prompt's job; best_of candidates that were not returned count too."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, done: JobDone) -> None:
        self.prompt_tokens += done.prompt_tokens
        self.completion_tokens += done.completion_tokens

    def usage(self) -> CompletionUsage:
        total = self.prompt_tokens + self.completion_tokens
        return CompletionUsage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens, total_tokens=total)


def token_text(raw: bytes) -> str:
    """A token as the legacy API shows it: its text, or `bytes:\\xNN...` when it splits a character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


class LogprobWriter:
    """One choice's legacy logprobs, written in one go or chunk by chunk (offsets run on across calls).

    `text_offset` counts characters from the start of the prompt, as OpenAI does, so without echo the
    first completion token starts at the prompt's length.
    """

    def __init__(self, token_bytes: TokenBytes, start: int) -> None:
        self._token_bytes = token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._offset = start

    def write(self, items: Sequence[Scored]) -> Logprobs:
        tokens: list[str] = []
        token_logprobs: list[float | None] = []
        top_logprobs: list[dict[str, float] | None] = []
        offsets: list[int] = []
        for token, record in items:
            raw = self._token_bytes(token)
            tokens.append(token_text(raw))
            offsets.append(self._offset)
            self._offset += len(self._decoder.decode(raw))
            token_logprobs.append(None if record is None else record.logprob)
            top_logprobs.append(None if record is None else self._top(record))
        fields = {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets}
        if any(v is None for v in token_logprobs):
            return Logprobs.model_construct(**fields)
        return Logprobs(**fields)

    def _top(self, record: TokenLogprob) -> dict[str, float]:
        """The most likely alternatives plus the sampled token itself ("up to logprobs+1 elements")."""
        top: dict[str, float] = {}
        for alt, logprob in record.top:
            top.setdefault(token_text(self._token_bytes(alt)), logprob)
        top.setdefault(token_text(self._token_bytes(record.token)), record.logprob)
        return top


@dataclass
class _Candidate:
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None

    def score(self) -> float:
        """best_of's measure: the mean logprob per token (OpenAI's "highest log probability per token")."""
        if not self.logprobs:
            return -math.inf
        return sum(r.logprob for r in self.logprobs) / len(self.logprobs)


class CompletionCollector:
    """Gathers every prompt's job into one `Completion`: choices prompt-major, `n` per prompt."""

    def __init__(self, plan: CompletionPlan, model: str, fingerprint: str, token_bytes: TokenBytes) -> None:
        self._plan, self._model, self._fingerprint, self._token_bytes = plan, model, fingerprint, token_bytes
        self._candidates = [[_Candidate() for _ in range(plan.best_of)] for _ in plan.prompts]
        self._prompt_scores: list[list[TokenLogprob | None]] = [[] for _ in plan.prompts]
        self._created = int(time.time())

    def add(self, prompt: int, event: PromptScored | TextDelta | ChoiceDone) -> None:
        if isinstance(event, PromptScored):
            self._prompt_scores[prompt] = event.logprobs
            return
        candidate = self._candidates[prompt][event.choice]
        if isinstance(event, TextDelta):
            candidate.text.append(event.text)
            candidate.logprobs.extend(event.logprobs)
        else:
            candidate.finish_reason = event.finish_reason

    def _chosen(self, prompt: int) -> list[_Candidate]:
        candidates = self._candidates[prompt]
        if self._plan.best_of == self._plan.n:
            return candidates
        return sorted(candidates, key=_Candidate.score, reverse=True)[: self._plan.n]

    def result(self, totals: Totals) -> Completion:
        plan = self._plan
        choices = []
        for p, prompt in enumerate(plan.prompts):
            echoed = prompt_items(prompt.tokens, self._prompt_scores[p], prompt.shown_from) if plan.echo else []
            for k, candidate in enumerate(self._chosen(p)):
                logprobs = None
                if plan.logprobs is not None:
                    writer = LogprobWriter(self._token_bytes, 0 if plan.echo else len(prompt.text))
                    logprobs = writer.write([*echoed, *((r.token, r) for r in candidate.logprobs)])
                choices.append(
                    CompletionChoice(
                        index=p * plan.n + k,
                        text=(prompt.text if plan.echo else "") + "".join(candidate.text),
                        logprobs=logprobs,
                        finish_reason=candidate.finish_reason or "stop",
                    )
                )
        return Completion(
            id=completion_id(),
            object="text_completion",
            created=self._created,
            model=self._model,
            choices=choices,
            system_fingerprint=self._fingerprint,
            usage=totals.usage(),
        )


def prompt_items(tokens: Sequence[int], scores: Sequence[TokenLogprob | None], shown_from: int) -> list[Scored]:
    """The prompt's own tokens for echoed logprobs (none when they were not scored)."""
    if not scores:
        return []
    return list(zip(tokens[shown_from:], scores[shown_from:], strict=True))


class ChunkBuilder:
    """Chunks of one streamed completion: `text_completion` objects sharing id, created and model."""

    def __init__(self, plan: CompletionPlan, model: str, fingerprint: str, token_bytes: TokenBytes) -> None:
        self._plan, self._model, self._fingerprint = plan, model, fingerprint
        self._id, self._created = completion_id(), int(time.time())
        self._writers: dict[int, LogprobWriter] = {}
        if plan.logprobs is not None:
            for p, prompt in enumerate(plan.prompts):
                for k in range(plan.n):
                    self._writers[p * plan.n + k] = LogprobWriter(token_bytes, 0 if plan.echo else len(prompt.text))

    @property
    def wants_usage(self) -> bool:
        return self._plan.include_usage

    def _chunk(self, choices: list[CompletionChoice], usage: CompletionUsage | None = None) -> Completion:
        extra = {"usage": usage} if self._plan.include_usage else {}
        return Completion(
            id=self._id,
            object="text_completion",
            created=self._created,
            model=self._model,
            choices=choices,
            system_fingerprint=self._fingerprint,
            **extra,
        )

    def _choice(self, index: int, text: str, items: Sequence[Scored] | None, finish_reason: str | None) -> CompletionChoice:
        writer = self._writers.get(index)
        logprobs = writer.write(items or []) if writer is not None and items is not None else None
        return CompletionChoice.model_construct(index=index, text=text, logprobs=logprobs, finish_reason=finish_reason)

    def echo(self, prompt: int, scores: Sequence[TokenLogprob | None]) -> list[Completion]:
        """The prompt text (and its logprobs, if scored) as the first chunk of each of its choices."""
        plan = self._plan
        source = plan.prompts[prompt]
        items = prompt_items(source.tokens, scores, source.shown_from)
        if not source.text and not items:
            return []
        first = prompt * plan.n
        return [self._chunk([self._choice(first + k, source.text, items, None)]) for k in range(plan.n)]

    def text(self, prompt: int, event: TextDelta) -> Completion:
        items = [(r.token, r) for r in event.logprobs]
        return self._chunk([self._choice(prompt * self._plan.n + event.choice, event.text, items, None)])

    def finish(self, prompt: int, event: ChoiceDone) -> Completion:
        index = prompt * self._plan.n + event.choice
        return self._chunk([self._choice(index, "", None, event.finish_reason)])

    def usage(self, totals: Totals) -> Completion:
        return self._chunk([], usage=totals.usage())
