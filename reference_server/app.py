"""The FastAPI application: routes, OpenAI error handling and the optional key check, over a registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .auth import ApiKeyMiddleware
from .errors import install_error_handlers
from .registry import ModelRegistry
from .responses import ResponseStore
from .responses import router as responses_router
from .routes import chat, completions, embeddings, models


def create_app(
    registry: ModelRegistry, *, api_key: str | None = None, response_store: ResponseStore | None = None
) -> FastAPI:
    """An app serving `registry`; the registry's engines are closed when the app shuts down.

    Stored responses go to `response_store` (default: an in-memory database, gone at shutdown).
    """
    store = response_store or ResponseStore()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            registry.close()
            store.close()

    # No docs or OpenAPI routes: OpenAI has none, and unknown paths must answer 404.
    app = FastAPI(title="reference-server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.registry = registry
    app.state.response_store = store
    install_error_handlers(app)
    app.include_router(models.router)
    app.include_router(chat.router)
    app.include_router(completions.router)
    app.include_router(embeddings.router)
    app.include_router(responses_router)
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    return app
