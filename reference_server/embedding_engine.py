"""The embedding side of a served model: a second llama.cpp context, made on first use, on its own thread.

Generation contexts keep logits for the last token only; embeddings need a context created with
`embedding=True` and a pooling type, so each model gets a second `llama_cpp.Llama` on the same GGUF
file (the weights are memory-mapped, so the page cache shares them). It is created by the first
embeddings request rather than at start-up: it costs about 0.3 s and 40 MB, which servers that never
embed should not pay. llama.cpp contexts are not thread-safe, so one worker thread owns it and runs
the jobs one at a time.

Every input is decoded alone, as one batch: llama.cpp's numbers depend on what else shares a batch
(up to 1% per component when several sequences are packed together), and one input per decode makes
a string's vector the same whether it is sent alone or in a list, every time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import llama_cpp
import numpy as np

from .engine import ModelLoadError, default_threads

T = TypeVar("T")

# Tokens per input. llama.cpp pools within one micro-batch, so a whole input must fit in one, and the
# attention buffers (and CPU time: about 10 s per 500 tokens on one busy core) grow with it; 512 is
# also what most embedding models were trained with.
DEFAULT_EMBEDDING_CONTEXT = 512

# Pooling types a GGUF can declare that give one vector per sequence.
_SEQUENCE_POOLING = {
    llama_cpp.LLAMA_POOLING_TYPE_MEAN,
    llama_cpp.LLAMA_POOLING_TYPE_CLS,
    llama_cpp.LLAMA_POOLING_TYPE_LAST,
}


class EmbeddingCancelled(Exception):
    """The client went away; the rest of the inputs were not computed."""


@dataclass(frozen=True)
class EmbeddingShape:
    """What requests are checked against: vector size, token ids and tokens per input."""

    dimensions: int
    n_vocab: int
    n_ctx: int


def pooling_type(metadata: Mapping[str, str]) -> int:
    """The GGUF's own pooling if it declares a usable one, else mean pooling.

    Decoder models such as SmolLM2 declare none, and llama.cpp would then return a vector per token.
    """
    arch = metadata.get("general.architecture", "")
    try:
        declared = int(metadata.get(f"{arch}.pooling_type", ""))
    except ValueError:
        return llama_cpp.LLAMA_POOLING_TYPE_MEAN
    return declared if declared in _SEQUENCE_POOLING else llama_cpp.LLAMA_POOLING_TYPE_MEAN


class EmbeddingEngine:
    def __init__(
        self,
        path: Path,
        *,
        metadata: Mapping[str, str],
        context_limit: int,
        threads: int | None = None,
        n_ctx: int = DEFAULT_EMBEDDING_CONTEXT,
    ) -> None:
        self.path = path
        self._pooling = pooling_type(metadata)
        self._n_ctx = max(1, min(n_ctx, context_limit))
        self._threads = threads or default_threads()
        self._llm: llama_cpp.Llama | None = None
        self._shape: EmbeddingShape | None = None
        self._lock = threading.Lock()  # guards creating and closing the executor
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    # -- called from the event loop --

    async def shape(self) -> EmbeddingShape:
        """Loads the context on first use."""
        return self._shape or await self._run(self._load)

    async def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Tokens of plain text as the model reads it: its BOS if it wants one, no special-token markup."""
        return await self._run(lambda: [self._tokenize(t) for t in texts])

    async def embed(self, inputs: Sequence[Sequence[int]], cancelled: threading.Event) -> list[np.ndarray]:
        """A unit-length float32 vector per input, in order; inputs must already fit the context."""
        return await self._run(lambda: [self._embed_one(tokens, cancelled) for tokens in inputs])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    async def _run(self, job: Callable[[], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the embedding engine is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed:{self.path.name}")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, job)

    # -- worker thread only --

    def _load(self) -> EmbeddingShape:
        if self._shape is None:
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=self._n_ctx,
                    n_batch=self._n_ctx,
                    n_ubatch=self._n_ctx,  # a whole input in one micro-batch: pooling does not span them
                    n_threads=self._threads,
                    n_threads_batch=self._threads,
                    embedding=True,
                    pooling_type=self._pooling,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelLoadError(f"could not create an embedding context for {self.path}: {exc}") from exc
            self._shape = EmbeddingShape(
                dimensions=self._llm.n_embd(), n_vocab=self._llm.n_vocab(), n_ctx=self._llm.n_ctx()
            )
        return self._shape

    def _model(self) -> llama_cpp.Llama:
        self._load()
        assert self._llm is not None
        return self._llm

    def _tokenize(self, text: str) -> list[int]:
        llm = self._model()
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if tokens or not text:
            return tokens
        # llama.cpp's tokenizer drops some characters (C0 controls such as "\x04") that OpenAI's
        # byte-level tokenizers keep, so a non-empty text can come out as no tokens. OpenAI embeds
        # every non-empty string; this one is embedded as the bare start of a document.
        return [llm.token_bos() if llm.token_bos() >= 0 else llm.token_eos()]

    def _embed_one(self, tokens: Sequence[int], cancelled: threading.Event) -> np.ndarray:
        if cancelled.is_set():
            raise EmbeddingCancelled()
        llm = self._model()
        llm._ctx.kv_cache_clear()
        llm._batch.reset()
        llm._batch.add_sequence(list(tokens), 0, True)  # every token an output: pooling reads them all
        llm._ctx.decode(llm._batch)
        pooled = llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)
        vector = np.ctypeslib.as_array(pooled, shape=(llm.n_embd(),)).astype(np.float32)
        llm._batch.reset()
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector
