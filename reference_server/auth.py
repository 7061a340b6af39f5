"""Optional bearer-key check on every route, as OpenAI does, in OpenAI's 401 envelope.

A plain ASGI middleware rather than a route dependency, so unknown routes and wrong methods are
also refused before anything about the server is revealed, and streaming bodies pass through
untouched.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def _masked(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None or not header.strip():
            await _refuse(MISSING_KEY, None, scope, receive, send)
            return
        scheme, _, token = header.decode("latin-1").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self._expected):
            message = f"Incorrect API key provided: {_masked(token)}."
            await _refuse(message, "invalid_api_key", scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _refuse(message: str, code: str | None, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(error_body(message, code=code), status_code=401)
    await response(scope, receive, send)
