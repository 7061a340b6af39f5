"""OpenAI's error envelope, and the FastAPI handlers that put every failure into it.

Clients (the official SDKs first) parse `{"error": {"message", "type", "param", "code"}}` to decide
which exception to raise, so no response of this server may leak FastAPI's `{"detail": ...}` shape or a
bare 500 for input that is merely wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request_error"

MALFORMED_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


class APIError(Exception):
    """An error that becomes an OpenAI error response; raise it anywhere inside a request."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


def error_body(
    message: str, *, type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def invalid_value(param: str, message: str) -> APIError:
    """A 400 for a value that is well-typed but unusable (the common case after schema validation)."""
    return APIError(400, message, param=param, code="invalid_value")


def model_not_found(model: str, *, param: str | None = None) -> APIError:
    return APIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param=param,
        code="model_not_found",
    )


# --- request validation -> OpenAI's wording and codes --------------------------------------------


def param_path(loc: Sequence[int | str], body: Any) -> str | None:
    """Turn a pydantic error location into OpenAI's `param` (`messages[0].content`).

    Pydantic puts union member labels and discriminator tags into `loc`; walking the real request
    body alongside it keeps only the steps that exist in what the client sent, whatever the schema's
    unions look like. A tag can also be a key of the body (a `{"type": "text", "text": ...}` part is
    tagged `text`), so such a step is tried both ways, and the reading that finds more of the steps
    in the body wins.
    """
    steps = list(loc)
    if steps and steps[0] in ("body", "query", "path", "header"):
        steps = steps[1:]
    parts, _ = _walk(steps, body)
    return "".join(parts).removeprefix(".") or None


def _walk(steps: Sequence[int | str], current: Any) -> tuple[list[str], tuple[int, bool]]:
    """The steps found in `current`, scored by (steps found, the last one exists in the body).

    On a tie the step is taken rather than skipped: a missing field is named by its last step.
    """
    if not steps:
        return [], (0, False)
    step, rest = steps[0], steps[1:]
    skipped, (count, last_exists) = _walk(rest, current)
    best = skipped, (count, last_exists and bool(rest))
    if isinstance(step, int) and isinstance(current, list) and 0 <= step < len(current):
        part, inner, exists = f"[{step}]", current[step], True
    elif isinstance(step, str) and isinstance(current, dict) and (step in current or not rest):
        part, inner, exists = f".{step}", current.get(step), step in current
    else:
        return best
    taken, (count, last_exists) = _walk(rest, inner)
    score = (count + 1, exists if not rest else last_exists)
    return ([part, *taken], score) if score >= best[1] else best


# How OpenAI's messages name a JSON value's type; bool before int, since a bool is an int in Python.
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a decimal"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), type(value).__name__)


def _bound_code(bound: Any, direction: str) -> str:
    """OpenAI's code names the field's type, which the bound's own type mirrors (`le=2` vs `le=2.0`)."""
    return f"{'integer' if isinstance(bound, int) else 'decimal'}_{direction}"


# Pydantic's bound errors -> (its ctx key, the operator, OpenAI's wording, OpenAI's code suffix).
_BOUNDS: dict[str, tuple[str, str, str, str]] = {
    "greater_than": ("gt", ">", "below minimum", "below_min_value"),
    "greater_than_equal": ("ge", ">=", "below minimum", "below_min_value"),
    "less_than": ("lt", "<", "above maximum", "above_max_value"),
    "less_than_equal": ("le", "<=", "above maximum", "above_max_value"),
}


def _is_type_error(err: Mapping[str, Any]) -> bool:
    """A union member whose type did not match at all: the least informative error of the lot."""
    kind = str(err.get("type", ""))
    return kind.endswith("_type") or kind.endswith("_parsing") or kind in ("none_required", "is_instance_of")


def validation_error(errors: Sequence[Mapping[str, Any]], body: Any) -> APIError:
    """The single most useful OpenAI-style 400 for a list of pydantic errors.

    Union members each report their own failure; the deepest location is the one that matches what
    the client was evidently trying to send.
    """
    if not errors:
        return APIError(400, "Invalid request.")
    if any(e.get("type") == "json_invalid" for e in errors):
        return APIError(400, MALFORMED_JSON_MESSAGE)
    err = max(errors, key=lambda e: (len(param_path(e.get("loc", ()), body) or ""), not _is_type_error(e)))
    kind = str(err.get("type", ""))
    param = param_path(err.get("loc", ()), body)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if param is None:
        if kind == "missing":
            return APIError(400, MALFORMED_JSON_MESSAGE)
        return APIError(400, f"Invalid request body: expected a JSON object, but got {_type_name(value)}.")
    if kind == "missing":
        return APIError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    if kind == "extra_forbidden":
        return APIError(400, f"Unrecognized request argument supplied: {param}", param=param, code="unknown_parameter")
    if kind in _BOUNDS:
        key, operator, where, direction = _BOUNDS[kind]
        bound = ctx.get(key)
        return APIError(
            400,
            f"Invalid '{param}': value {where}. Expected a value {operator} {bound}, but got {value} instead.",
            param=param,
            code=_bound_code(bound, direction),
        )
    if kind == "too_long":
        return APIError(
            400,
            f"Invalid '{param}': array too long. Expected an array with maximum length {ctx.get('max_length')}, "
            f"but got an array with length {len(value) if isinstance(value, list | str | dict) else '?'} instead.",
            param=param,
            code="array_above_max_length",
        )
    if kind == "too_short":
        return APIError(
            400,
            f"Invalid '{param}': array too short. Expected an array with minimum length {ctx.get('min_length')}, "
            f"but got an array with length {len(value) if isinstance(value, list | str | dict) else '?'} instead.",
            param=param,
            code="empty_array" if value == [] else "array_below_min_length",
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "")).strip("'")
        where = f"{param}.{tag}" if tag else param
        expected = ctx.get("expected_tags", "")
        got = ctx.get("tag")
        detail = f"Invalid value: '{got}'." if got is not None else f"Missing required parameter: '{where}'."
        return APIError(
            400,
            f"{detail} Supported values are: {expected}.",
            param=where,
            code="invalid_value" if got is not None else "missing_required_parameter",
        )
    if _is_type_error(err):
        return APIError(
            400,
            f"Invalid type for '{param}': got {_type_name(value)} instead ({err.get('msg', '')}).",
            param=param,
            code="invalid_type",
        )
    return APIError(400, f"Invalid value for '{param}': {err.get('msg', 'invalid value')}.", param=param, code="invalid_value")


# --- handlers ------------------------------------------------------------------------------------


def _request_body_for(exc: RequestValidationError) -> Any:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | bytearray):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return body


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return exc.response()


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error(exc.errors(), _request_body_for(exc)).response()


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    where = f"({request.method} {request.url.path})"
    if exc.status_code == 404:
        message, code = f"Invalid URL {where}", None
    elif exc.status_code == 405:
        message, code = f"Method not allowed {where}", None
    else:
        message, code = str(exc.detail), None
    kind = INVALID_REQUEST if exc.status_code < 500 else "server_error"
    return JSONResponse(
        error_body(message, type=kind, code=code), status_code=exc.status_code, headers=dict(exc.headers or {})
    )


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("The server had an error while processing your request.", type="server_error"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
