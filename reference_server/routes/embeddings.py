"""`POST /v1/embeddings`: text or token ids in, unit vectors out, in input order."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..embedding_engine import EmbeddingCancelled
from ..embeddings_output import embeddings_response, shorten
from ..embeddings_request import EmbeddingRequest, check_dimensions, check_text, check_tokens
from ..registry import ModelRegistry
from ..request_body import read_body

router = APIRouter()


@router.post("/v1/embeddings")
async def create_embeddings(request: Request) -> Any:
    body = await read_body(request, EmbeddingRequest)
    registry: ModelRegistry = request.app.state.registry
    model = registry.get(body.model)
    texts = body.texts()
    if texts is not None:
        check_text(body, texts)
    embedder = model.embedder
    shape = await embedder.shape()
    check_dimensions(body, shape)
    inputs = await embedder.tokenize(texts) if texts is not None else body.token_inputs() or []
    check_tokens(body, inputs, shape)
    cancelled = threading.Event()
    watcher = asyncio.create_task(_watch_disconnect(request, cancelled))
    try:
        vectors = await embedder.embed(inputs, cancelled)
    except EmbeddingCancelled:
        return Response(status_code=499)  # nobody is listening
    finally:
        watcher.cancel()
        cancelled.set()
    vectors = [shorten(v, body.dimensions) for v in vectors]
    prompt_tokens = sum(len(tokens) for tokens in inputs)
    return JSONResponse(embeddings_response(model.id, vectors, prompt_tokens, body.encoding_format or "float"))


async def _watch_disconnect(request: Request, cancelled: threading.Event) -> None:
    """Stop computing the remaining inputs of a client that hung up."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancelled.set()
            return
