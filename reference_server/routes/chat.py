"""`POST /v1/chat/completions`, streamed (SSE) or not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..chat_output import ChunkBuilder, CompletionCollector
from ..chat_request import plan_chat
from ..engine import ChoiceDone, Job, JobCancelled, JobDone, JobFailed, TextDelta
from ..errors import APIError, error_body
from ..registry import ModelRegistry
from ..request_body import read_body
from ..schemas import ChatCompletionRequest
from ..streaming import cancel_on_disconnect, sse_response

router = APIRouter()


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request) -> Any:
    body = await read_body(request, ChatCompletionRequest)
    registry: ModelRegistry = request.app.state.registry
    model = registry.get(body.model)
    plan = plan_chat(body, model)
    job = model.engine.submit(plan.generation)
    token_bytes = model.engine.token_bytes
    if plan.stream:
        chunks = ChunkBuilder(
            model.id, model.fingerprint, plan.include_usage, plan.generation.logprobs, token_bytes, plan.tools, plan.generation.n
        )
        return sse_response(_stream(job, chunks, plan.generation.n))
    collector = CompletionCollector(
        model.id, model.fingerprint, plan.generation.n, plan.generation.logprobs, token_bytes, plan.tools
    )
    async with cancel_on_disconnect(request, [job]):
        async for event in job.events():
            if isinstance(event, TextDelta | ChoiceDone):
                collector.add(event)
            elif isinstance(event, JobFailed):
                raise APIError(500, event.message, type="server_error")
            elif isinstance(event, JobDone):
                return JSONResponse(collector.result(event).model_dump(mode="json", exclude_unset=True))
            elif isinstance(event, JobCancelled):
                break
    # Only a client that hung up cancels a non-streamed job: nobody will read this.
    return Response(status_code=499)


async def _stream(job: Job, chunks: ChunkBuilder, n: int) -> AsyncIterator[str]:
    """SSE data lines in OpenAI's order; a client that goes away cancels the job (via `finally`)."""
    try:
        for choice in range(n):
            for chunk in chunks.role(choice):
                yield chunk.model_dump_json(exclude_unset=True)
        async for event in job.events():
            if isinstance(event, TextDelta):
                for chunk in chunks.text(event):
                    yield chunk.model_dump_json(exclude_unset=True)
            elif isinstance(event, ChoiceDone):
                for chunk in chunks.finish(event):
                    yield chunk.model_dump_json(exclude_unset=True)
            elif isinstance(event, JobDone):
                if chunks.wants_usage:
                    yield chunks.usage(event).model_dump_json(exclude_unset=True)
                yield "[DONE]"
            elif isinstance(event, JobFailed):
                yield json.dumps(error_body(event.message, type="server_error"))
            elif isinstance(event, JobCancelled):
                return
    finally:
        job.cancel()

