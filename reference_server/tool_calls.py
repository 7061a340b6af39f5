"""Generated text back into content and tool calls, incrementally, for streamed and whole answers alike.

The model writes calls in the convention of tools.py (`<tool_call>` + `{"name": ..., "arguments":
...}` + `</tool_call>`). The parser is fed the text as it is released and yields pieces in order:
content, the start of a call (index, id, name) and fragments of its arguments, so a stream can send
OpenAI's tool-call deltas while the call is being written, and a non-streamed answer is the same
pieces gathered. Arguments are passed through as the model wrote them (a grammar has made them valid
JSON); the end of the arguments object is found by tracking JSON nesting, so nothing is held back.

Text that only might become a tag (a trailing `<tool`) is held until it is decided. Whitespace between
or around calls is not content.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

from .tools import CLOSE, OPEN

_ALPHABET = string.ascii_letters + string.digits
_HEADER = re.compile(r'\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')


def call_id() -> str:
    return "call_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


@dataclass(frozen=True)
class ContentPiece:
    text: str


@dataclass(frozen=True)
class CallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ArgumentsPiece:
    index: int
    text: str


Piece = ContentPiece | CallStart | ArgumentsPiece


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ToolCallParser:
    def __init__(self, prefill: str = "", new_id: Callable[[], str] = call_id) -> None:
        self._new_id = new_id
        self._state = "text"  # text -> header -> arguments -> close -> tail -> text ...
        self._buffer = ""
        self.calls = 0
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._started = False  # the arguments value has begun (leading whitespace skipped)
        self.initial = self.feed(prefill) if prefill else []

    def feed(self, text: str) -> list[Piece]:
        self._buffer += text
        out: list[Piece] = []
        while True:
            before = (self._state, len(self._buffer))
            getattr(self, f"_{self._state}")(out)
            if (self._state, len(self._buffer)) == before:
                return out

    def finish(self) -> list[Piece]:
        """The output ended: release what was held back (an unfinished tag is just text)."""
        rest = OPEN + self._buffer if self._state == "header" else self._buffer if self._state == "text" else ""
        self._buffer = ""
        if rest.strip() or (rest and not self.calls):
            return [ContentPiece(rest)]
        return []

    # -- states: each consumes what it can from the buffer --

    def _text(self, out: list[Piece]) -> None:
        at = self._buffer.find(OPEN)
        if at >= 0:
            before, self._buffer = self._buffer[:at], self._buffer[at + len(OPEN) :]
            if before.strip():  # whitespace right before a call is layout, not content
                out.append(ContentPiece(before.rstrip()))
            self._state = "header"
            return
        keep = _partial_suffix(self._buffer, OPEN)
        # Trailing whitespace waits: it is content only if more content follows it.
        ready = self._buffer[: len(self._buffer) - keep].rstrip()
        if ready:
            self._buffer = self._buffer[len(ready) :]
            out.append(ContentPiece(ready))

    def _header(self, out: list[Piece]) -> None:
        match = _HEADER.match(self._buffer)
        if match is None:
            return
        name = json.loads(f'"{match.group(1)}"')
        self._buffer = self._buffer[match.end() :]
        out.append(CallStart(index=self.calls, id=self._new_id(), name=name))
        self._state = "arguments"
        self._depth, self._in_string, self._escaped, self._started = 0, False, False, False

    def _arguments(self, out: list[Piece]) -> None:
        text = self._buffer
        if not self._started:
            stripped = text.lstrip()
            if not stripped:
                self._buffer = ""
                return
            text = stripped
            self._started = True
        end = None
        for i, ch in enumerate(text):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif ch == "\\":
                    self._escaped = True
                elif ch == '"':
                    self._in_string = False
            elif ch == '"':
                self._in_string = True
            elif ch in "{[":
                self._depth += 1
            elif ch in "}]":
                self._depth -= 1
                if self._depth == 0:
                    end = i + 1
                    break
        fragment, self._buffer = (text, "") if end is None else (text[:end], text[end:])
        if fragment:
            out.append(ArgumentsPiece(index=self.calls, text=fragment))
        if end is not None:
            self.calls += 1
            self._state = "close"

    def _close(self, out: list[Piece]) -> None:
        """The `}` that closes the call object."""
        stripped = self._buffer.lstrip()
        if not stripped:
            return
        self._buffer = stripped[1:] if stripped.startswith("}") else stripped
        self._state = "tail"

    def _tail(self, out: list[Piece]) -> None:
        """An optional closing tag, then whatever comes next."""
        stripped = self._buffer.lstrip()
        if stripped.startswith(CLOSE):
            self._buffer = stripped[len(CLOSE) :]
            self._state = "text"
        elif stripped and not CLOSE.startswith(stripped):
            self._state = "text"
