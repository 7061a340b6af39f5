"""`POST /v1/completions` (the legacy text endpoint), streamed (SSE) or not.

Every prompt is its own engine job; they are queued together and read in order, so choices come
out prompt-major (all of the first prompt's, then the next's), as OpenAI numbers them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..completion_output import ChunkBuilder, CompletionCollector, Totals
from ..completion_request import CompletionPlan, CompletionRequest, plan_completion
from ..engine import ChoiceDone, Job, JobCancelled, JobDone, JobFailed, PromptScored, TextDelta
from ..errors import APIError, error_body
from ..registry import ModelRegistry
from ..request_body import read_body
from ..streaming import cancel_on_disconnect, sse_response

router = APIRouter()


@router.post("/v1/completions")
async def create_completion(request: Request) -> Any:
    body = await read_body(request, CompletionRequest)
    registry: ModelRegistry = request.app.state.registry
    model = registry.get(body.model)
    plan = plan_completion(body, model)
    jobs = [model.engine.submit(generation) for generation in plan.generations]
    if plan.stream:
        chunks = ChunkBuilder(plan, model.id, model.fingerprint, model.engine.token_bytes)
        return sse_response(_stream(jobs, chunks, plan))
    collector = CompletionCollector(plan, model.id, model.fingerprint, model.engine.token_bytes)
    totals = Totals()
    async with cancel_on_disconnect(request, jobs):
        for p, job in enumerate(jobs):
            async for event in job.events():
                if isinstance(event, PromptScored | TextDelta | ChoiceDone):
                    collector.add(p, event)
                elif isinstance(event, JobFailed):
                    raise APIError(500, event.message, type="server_error")
                elif isinstance(event, JobDone):
                    totals.add(event)
                elif isinstance(event, JobCancelled):
                    # Only a client that hung up cancels a non-streamed job: nobody will read this.
                    return Response(status_code=499)
    return JSONResponse(collector.result(totals).model_dump(mode="json", exclude_unset=True))


async def _stream(jobs: Sequence[Job], chunks: ChunkBuilder, plan: CompletionPlan) -> AsyncIterator[str]:
    """SSE data lines in OpenAI's order; a client that goes away cancels the jobs (via `finally`)."""
    totals = Totals()
    try:
        for p, job in enumerate(jobs):
            if plan.echo and plan.logprobs is None:
                for chunk in chunks.echo(p, []):
                    yield chunk.model_dump_json(exclude_unset=True)
            async for event in job.events():
                if isinstance(event, PromptScored):
                    for chunk in chunks.echo(p, event.logprobs):
                        yield chunk.model_dump_json(exclude_unset=True)
                elif isinstance(event, TextDelta):
                    yield chunks.text(p, event).model_dump_json(exclude_unset=True)
                elif isinstance(event, ChoiceDone):
                    yield chunks.finish(p, event).model_dump_json(exclude_unset=True)
                elif isinstance(event, JobDone):
                    totals.add(event)
                elif isinstance(event, JobFailed):
                    yield json.dumps(error_body(event.message, type="server_error"))
                    return
                elif isinstance(event, JobCancelled):
                    return
        if chunks.wants_usage:
            yield chunks.usage(totals).model_dump_json(exclude_unset=True)
        yield "[DONE]"
    finally:
        for job in jobs:
            job.cancel()

