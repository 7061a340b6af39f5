"""JSON as RFC 8259 defines it, which Python's `json` module does not enforce by default.

`json.loads` reads `NaN`, `Infinity` and `-Infinity`; JavaScript's `JSON.parse`, Go and most other
clients refuse them. A server that writes them (e.g. a logprob of -inf) is not sending JSON, and the
harness must say so rather than pass it because Python happens to be lenient.
"""

from __future__ import annotations

import json
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (RFC 8259 has no NaN or Infinity)")


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_refuse_constant)
