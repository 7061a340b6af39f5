"""The one owner of a llama.cpp model: a worker thread that runs generation jobs one at a time.

llama.cpp contexts are not thread-safe, so every decode happens on a single worker thread fed by a
FIFO queue: concurrent requests are served in arrival order, never interleaved inside the context.
Each job streams its events back to the asyncio side through a queue, and carries a cancel flag the
worker checks before every token, so a client that goes away frees the engine at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import llama_cpp
import numpy as np

from .grammar import Grammar
from .sampling import (
    SamplingParams,
    TokenLogprob,
    build_sampler,
    choice_seed,
    grammar_sampler,
    last_logits,
    logits_at,
    perturb_logits,
    token_logprob,
)
from .text_stream import TextStream

log = logging.getLogger(__name__)

FinishReason = Literal["stop", "length"]


def default_threads() -> int:
    """llama-cpp-python's default for generation: half the CPUs, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


class ModelLoadError(Exception):
    """The model file could not be loaded; the message is meant for a human at the command line."""


# --- what a job asks for and what it reports -----------------------------------------------------


@dataclass(frozen=True)
class GenerationRequest:
    prompt_tokens: Sequence[int]
    sampling: SamplingParams
    max_tokens: int | None = None  # None: until end of text or a full context
    stop: Sequence[str] = ()
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0
    prompt_logprobs: bool = False  # score the prompt's own tokens too (completions' echo + logprobs)
    grammar: Grammar | None = None  # constrain the output (structured output, tool calls)
    stop_token_ids: frozenset[int] = frozenset()  # vLLM: stop when one of these is sampled
    ignore_eos: bool = False  # vLLM: end-of-text tokens are never sampled
    include_stop_str: bool = False  # vLLM: keep the matched stop string / stop token in the output


@dataclass(frozen=True)
class PromptScored:
    """Each prompt token's logprob given the tokens before it; None for the first (it has no context)."""

    logprobs: list[TokenLogprob | None]


@dataclass(frozen=True)
class TextDelta:
    choice: int
    text: str
    logprobs: list[TokenLogprob]


@dataclass(frozen=True)
class ChoiceDone:
    choice: int
    finish_reason: FinishReason
    completion_tokens: int


@dataclass(frozen=True)
class JobDone:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


@dataclass(frozen=True)
class JobFailed:
    message: str


@dataclass(frozen=True)
class JobCancelled:
    """The job stopped because it was cancelled; sent so that nobody waits for it forever."""


Event = PromptScored | TextDelta | ChoiceDone | JobDone | JobFailed | JobCancelled
Terminal = JobDone | JobFailed | JobCancelled


class Job:
    """A submitted request: the asyncio side reads `events()`, and calls `cancel()` if it stops caring."""

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self._loop = loop
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._cancel = threading.Event()
        self.ended = False  # a terminal event has been emitted (worker thread only)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def emit(self, event: Event) -> None:
        if isinstance(event, Terminal):
            self.ended = True
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
        except RuntimeError:  # the event loop is gone (shutdown): nobody is listening any more
            self._cancel.set()

    async def events(self) -> AsyncIterator[Event]:
        """Events in order, ending with JobDone, JobFailed or JobCancelled."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Terminal):
                return


# --- the engine ----------------------------------------------------------------------------------


class Engine:
    def __init__(self, path: Path, *, n_ctx: int = 0, threads: int | None = None) -> None:
        # The same count for prompt and generation: llama.cpp's worker threads spin at barriers, so
        # more threads than free cores (llama-cpp-python's default for prompts) can stall a
        # shared machine for seconds.
        threads = threads or default_threads()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"could not load model {path}: {exc}") from exc
        self.path = path
        self.n_ctx: int = self._llm.n_ctx()
        self.n_vocab: int = self._llm.n_vocab()
        self.metadata: dict[str, str] = dict(self._llm.metadata)
        self._vocab = self._llm._model.vocab
        # Rendering every token once up front keeps the per-token path to a list lookup.
        self._pieces = [self._piece(t, special=False) for t in range(self.n_vocab)]
        self._display = [self._piece(t, special=True) for t in range(self.n_vocab)]
        self.eog_tokens = tuple(t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self._vocab, t))
        self._prompt_extent = 0  # leading KV-cache tokens that were decoded in multi-token batches
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._current: Job | None = None
        self._closing = False
        self._worker = threading.Thread(target=self._work, name=f"engine:{path.name}", daemon=True)
        self._worker.start()

    # -- called from any thread (read-only use of the vocabulary) --

    def tokenize(self, text: str) -> list[int]:
        """Tokens of rendered chat-template text; its special-token markup becomes special tokens."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def token_bytes(self, token: int) -> bytes:
        """The token as shown in logprobs (special tokens by their name)."""
        return self._display[token]

    @property
    def bos_token(self) -> str:
        token = self._llm.token_bos()
        return self._llm._model.token_get_text(token) if token >= 0 else ""

    @property
    def eos_token(self) -> str:
        token = self._llm.token_eos()
        return self._llm._model.token_get_text(token) if token >= 0 else ""

    def grammar_compiles(self, grammar: Grammar) -> bool:
        """Whether llama.cpp accepts the grammar (checked before queueing, so a bad one is a 400)."""
        sampler = grammar_sampler(self._vocab, grammar.text, grammar.triggers)
        if sampler is None:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def submit(self, request: GenerationRequest) -> Job:
        """Queue a job behind the ones already waiting; call from the event loop."""
        job = Job(request, asyncio.get_running_loop())
        self._jobs.put(job)
        return job

    def close(self) -> None:
        """Stop at once: the running job and every queued one end as cancelled."""
        self._closing = True
        current = self._current
        if current is not None:
            current.cancel()
        self._jobs.put(None)
        self._worker.join(timeout=30)
        if not self._worker.is_alive():
            self._llm.close()

    # -- worker thread only --

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = (ctypes.c_char * 64)()
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = (ctypes.c_char * -n)()
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return bytes(buf[:n])

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._closing:
                job.cancel()
            self._current = job
            started = time.monotonic()
            try:
                if not job.cancelled:
                    self._run(job)
            except Exception as exc:
                log.exception("generation failed")
                job.emit(JobFailed(f"generation failed: {exc}"))
            finally:
                self._current = None
                if not job.ended:
                    job.emit(JobCancelled())
            log.debug("job ended in %.2fs (cancelled: %s)", time.monotonic() - started, job.cancelled)

    def _run(self, job: Job) -> None:
        req = job.request
        if req.prompt_logprobs:
            scores = self._score_prompt(req.prompt_tokens, req.top_logprobs, job)
            if scores is None:
                return
            job.emit(PromptScored(scores))
        cached = self._load_prompt(req.prompt_tokens, job)
        if cached is None:
            return
        total = 0
        for choice in range(req.n):
            if choice > 0 and self._load_prompt(req.prompt_tokens, job) is None:
                return
            sampler = build_sampler(
                req.sampling,
                self.n_vocab,
                self.n_ctx,
                choice_seed(req.sampling.seed, choice),
                prompt_tokens=req.prompt_tokens,
                banned=self.eog_tokens if req.ignore_eos else (),
                grammar=self._grammar(req.grammar),
            )
            try:
                outcome = self._generate(job, choice, sampler)
            finally:
                sampler.close()
            if outcome is None:
                return
            finish, count = outcome
            total += count
            job.emit(ChoiceDone(choice, finish, count))
        job.emit(JobDone(prompt_tokens=len(req.prompt_tokens), completion_tokens=total, cached_tokens=cached))

    def _load_prompt(self, tokens: Sequence[int], job: Job) -> int | None:
        """Make the context hold `tokens`, reusing the longest prefix already in the KV cache.

        Returns how many prompt tokens came from the cache (None if cancelled).

        llama.cpp computes a one-token batch on a different kernel than a multi-token one, and the
        results differ enough to change sampled tokens. So prompt tokens are always decoded in
        batches of two or more, only such tokens are ever reused (never generated ones, which were
        decoded one by one), and at least the last two prompt tokens are decoded again: the logits
        for the first sampled token are then the same whether or not the cache was used, which is
        what makes a fixed seed reproducible.
        """
        llm = self._llm
        common = 0
        if llm.n_tokens:
            limit = min(llm.n_tokens, self._prompt_extent, len(tokens))
            differ = np.nonzero(llm.input_ids[:limit] != np.asarray(tokens[:limit], dtype=np.intc))[0]
            common = int(differ[0]) if len(differ) else limit
        reuse = min(common, len(tokens) - 2)
        if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
            llm.n_tokens = reuse
        else:
            reuse = 0
            llm.reset()
        self._prompt_extent = reuse
        for batch in _batches(list(tokens[reuse:]), llm.n_batch):
            if job.cancelled:
                return None
            llm.eval(batch)
            self._prompt_extent += len(batch) if len(tokens) > 1 else 0
        return reuse

    def _score_prompt(self, tokens: Sequence[int], top_n: int, job: Job) -> list[TokenLogprob | None] | None:
        """Logprobs of the prompt's tokens (None if cancelled), leaving the prompt in the KV cache.

        The prompt is decoded in the batches `_load_prompt` would use, only with logits at every
        position; the keys and values do not depend on which logits are read, so `_load_prompt`
        reuses all but the last two tokens as usual and the completion is the same as unscored.
        """
        llm = self._llm
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        self._prompt_extent = 0
        scores: list[TokenLogprob | None] = [None]
        for batch in _batches(list(tokens), llm.n_batch):
            if job.cancelled:
                return None
            start = llm.n_tokens
            llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[start : start + len(batch)] = batch
            llm.n_tokens += len(batch)
            for i in range(len(batch)):
                if start + i + 1 < len(tokens):
                    logits = logits_at(llm._ctx.ctx, i, self.n_vocab)
                    scores.append(token_logprob(logits, tokens[start + i + 1], top_n))
        self._prompt_extent = llm.n_tokens if len(tokens) > 1 else 0
        return scores

    def _grammar(self, grammar: Grammar | None) -> llama_cpp.llama_sampler_p | None:
        if grammar is None:
            return None
        sampler = grammar_sampler(self._vocab, grammar.text, grammar.triggers)
        if sampler is None:
            raise RuntimeError("the grammar does not parse")
        return sampler

    def _generate(
        self, job: Job, choice: int, sampler: llama_cpp._internals.LlamaSampler
    ) -> tuple[FinishReason, int] | None:
        """Sample one choice to its end; None if the job was cancelled on the way."""
        llm, req = self._llm, job.request
        ctx = llm._ctx
        stream: TextStream[TokenLogprob] = TextStream(req.stop, include_stop=req.include_stop_str)
        limit = req.max_tokens
        count = 0
        finish: FinishReason = "length"
        if limit == 0:  # completions with max_tokens 0: the prompt alone (echo), nothing sampled
            return finish, 0
        while True:
            if job.cancelled:
                return None
            perturb_logits(ctx.ctx, self.n_vocab)
            token = sampler.sample(ctx, -1)
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                finish = "stop"
                break
            if token in req.stop_token_ids:
                count += 1  # generated, as on vLLM; its text only if asked for
                finish = "stop"
                if req.include_stop_str:
                    release = stream.push(self._pieces[token])
                    if release.text:
                        job.emit(TextDelta(choice, release.text, release.payloads))
                break
            logprob = None
            if req.logprobs:
                logprob = token_logprob(last_logits(ctx.ctx, self.n_vocab), token, req.top_logprobs)
            count += 1
            release = stream.push(self._pieces[token], logprob)
            if release.text or release.payloads:
                job.emit(TextDelta(choice, release.text, release.payloads))
            if stream.stopped:
                finish = "stop"
                break
            if (limit is not None and count >= limit) or llm.n_tokens >= self.n_ctx:
                finish = "length"
                break
            llm.eval([token])
        rest = stream.finish()
        if rest.text or rest.payloads:
            job.emit(TextDelta(choice, rest.text, rest.payloads))
        return finish, count


def _batches(tokens: list[int], size: int) -> list[list[int]]:
    """Split into batches of at most `size`, never leaving a lone token at the end (see _load_prompt)."""
    batches = [tokens[i : i + size] for i in range(0, len(tokens), size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2], batches[-1] = batches[-2][:-1], [batches[-2][-1], *batches[-1]]
    return batches
