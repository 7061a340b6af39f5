"""llama-cpp-python called in-process: the speed limit for any Python server on the same library.

It uses the library's own streamed chat API with the same model file, context size and threads as
the servers, and is timed exactly like the HTTP clients (send to first content token, then per token).
"""

from __future__ import annotations

import time
from pathlib import Path

import llama_cpp

from bench.streaming import StreamTiming


class InProcessModel:
    def __init__(self, path: Path, *, n_ctx: int, threads: int) -> None:
        self._llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    def stream_chat(self, messages: list[dict[str, str]], max_tokens: int) -> StreamTiming:
        timing = StreamTiming(started=time.perf_counter())
        chunks = self._llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
        )
        for chunk in chunks:
            choices = chunk["choices"]  # type: ignore[index]
            if choices and choices[0]["delta"].get("content"):
                timing.token_arrived(time.perf_counter())
        timing.done = True
        timing.total_s = time.perf_counter() - timing.started
        return timing

    def close(self) -> None:
        self._llm.close()
