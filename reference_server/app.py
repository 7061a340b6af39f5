"""The FastAPI application: routes, OpenAI error handling and the optional key check, over a registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .auth import ApiKeyMiddleware
from .errors import install_error_handlers
from .registry import ModelRegistry
from .routes import chat, completions, models


def create_app(registry: ModelRegistry, *, api_key: str | None = None) -> FastAPI:
    """An app serving `registry`; the registry's engines are closed when the app shuts down."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            registry.close()

    # No docs or OpenAPI routes: OpenAI has none, and unknown paths must answer 404.
    app = FastAPI(title="reference-server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.registry = registry
    install_error_handlers(app)
    app.include_router(models.router)
    app.include_router(chat.router)
    app.include_router(completions.router)
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    return app
