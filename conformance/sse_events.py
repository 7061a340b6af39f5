"""Server-sent events as a client reads them: the WHATWG parsing algorithm, nothing endpoint-specific.

Split from the stream rules (conformance.sse for chat and completions, conformance.responses_stream
for the Responses API) so that both read the same parsed stream and neither imports the other back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance import strict_json

_FIELD = re.compile(r"^(data|event|id|retry)(:|$)")


@dataclass
class Event:
    data: str
    event: str | None = None
    json: Any = None
    is_json: bool = False


@dataclass
class ParsedStream:
    events: list[Event] = field(default_factory=list)
    stray_lines: list[str] = field(default_factory=list)  # neither a known field, a comment nor blank
    unterminated: bool = False  # the body ended inside an event (no blank line after its data)

    @property
    def chunks(self) -> list[Any]:
        return [e.json for e in self.events if e.is_json]

    @property
    def unparsable(self) -> list[str]:
        return [e.data for e in self.events if not e.is_json and e.data != "[DONE]"]


def parse(text: str) -> ParsedStream:
    """Split an SSE body into events the way the WHATWG algorithm does."""
    out = ParsedStream()
    data: list[str] = []
    event_name: str | None = None
    have_data = False
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            if have_data:
                out.events.append(_event("\n".join(data), event_name))
            data, event_name, have_data = [], None, False
            continue
        if line.startswith(":"):
            continue
        if not _FIELD.match(line):
            out.stray_lines.append(line)
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
            have_data = True
        elif name == "event":
            event_name = value
    if have_data:
        out.unterminated = True
        out.events.append(_event("\n".join(data), event_name))
    return out


def _event(data: str, name: str | None) -> Event:
    try:
        return Event(data=data, event=name, json=strict_json.loads(data), is_json=True)
    except ValueError:
        return Event(data=data, event=name)
