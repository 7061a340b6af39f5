"""The one base class of every request body model, so all endpoints read JSON the way OpenAI does.

OpenAI refuses unknown fields (a typo must not pass silently) and values of the wrong JSON type:
`"temperature": "0.5"`, `"stream": "true"` or `"n": "2"` are 400 `invalid_type`, not numbers and
booleans. Pydantic's lax mode would coerce them, so the models are strict. Strict mode still takes an
integer where a number is expected (`"temperature": 1`), as OpenAI does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Unknown fields and mistyped scalars are errors (OpenAI's `unknown_parameter` / `invalid_type`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
