"""Read a JSON request body into a request model, whatever Content-Type the client sent.

Simple clients (`curl -d`, hand-written scripts) often send JSON as form data or text; the body is
parsed as JSON regardless, and everything that goes wrong becomes OpenAI's 400 envelope with the
field named, instead of FastAPI's 422 `{"detail": ...}`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from .errors import MALFORMED_JSON_MESSAGE, APIError, validation_error

M = TypeVar("M", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: NaN and Infinity are not JSON, so they are malformed input rather than numbers."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, MALFORMED_JSON_MESSAGE) from None


async def read_body(request: Request, model: type[M]) -> M:
    data = parse_json(await request.body())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc.errors(), data) from None
