"""Turn generated token bytes into released text, honouring stop strings as OpenAI does.

Tokens can split UTF-8 characters and stop strings can span tokens, so text is only released once
it can no longer become part of a stop string; whatever matches a stop string is never released.
Each token may carry a payload (its logprob record) that is released together with the first text
it contributed to, so streamed logprobs line up with streamed text.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")


@dataclass
class Release(Generic[P]):
    text: str = ""
    payloads: list[P] = field(default_factory=list)


class TextStream(Generic[P]):
    def __init__(self, stop: Sequence[str] = (), *, include_stop: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stop if s]
        self._include_stop = include_stop  # vLLM's include_stop_str_in_output: release the stop string too
        self._pending = ""  # decoded text not yet released
        self._released = 0  # characters released so far
        self._waiting: list[tuple[int, P]] = []  # (start offset of the token's text, payload)
        self.stopped = False

    def push(self, piece: bytes, payload: P | None = None) -> Release[P]:
        """Add one token's bytes; returns what became safe to release (empty once stopped)."""
        if self.stopped:
            return Release()
        if payload is not None:
            self._waiting.append((self._released + len(self._pending), payload))
        self._pending += self._decoder.decode(piece)
        cut = self._stop_at()
        if cut is not None:
            self.stopped = True
            return self._release(cut, final=True)
        return self._release(len(self._pending) - self._held_back())

    def finish(self) -> Release[P]:
        """Generation ended without a stop string: release everything still held."""
        if self.stopped:
            return Release()
        self._pending += self._decoder.decode(b"", final=True)
        return self._release(len(self._pending), final=True)

    def _stop_at(self) -> int | None:
        """Where released text ends: before the earliest stop string (or after it, when included)."""
        hits = [(i, i + len(s)) for s in self._stops if (i := self._pending.find(s)) >= 0]
        if not hits:
            return None
        start, end = min(hits)
        return end if self._include_stop else start

    def _held_back(self) -> int:
        """Length of the longest pending suffix that could still grow into a stop string."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(self._pending)), best, -1):
                if self._pending.endswith(stop[:n]):
                    best = n
                    break
        return best

    def _release(self, upto: int, *, final: bool = False) -> Release[P]:
        text = self._pending[:upto]
        self._pending = self._pending[upto:]
        self._released += len(text)
        if final:
            ready = [p for start, p in self._waiting if start < self._released or not self.stopped]
            self._waiting = []
        else:
            ready = [p for start, p in self._waiting if start < self._released]
            self._waiting = [(start, p) for start, p in self._waiting if start >= self._released]
        return Release(text, ready)
