"""What every generating route shares: its SSE response, and cancelling jobs when the client leaves.

Chat, legacy completions and responses all stream the same way and all stop generating for a client
that hung up, so the rules live once here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse

from .engine import Job

# OpenAI sends no keep-alive comments; an interval longer than any request disables them.
NO_PING = 365 * 24 * 3600


def sse_response(events: AsyncIterator[Any]) -> EventSourceResponse:
    """Server-sent events framed as OpenAI frames them: `\\n` line ends, no keep-alive comments."""
    return EventSourceResponse(events, sep="\n", ping=NO_PING)


@contextlib.asynccontextmanager
async def cancel_on_disconnect(request: Request, jobs: Sequence[Job]) -> AsyncIterator[None]:
    """Stop generating for a non-streamed request whose client hung up while waiting.

    The jobs are cancelled on the way out too, so none outlives the request whatever happened.
    """

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                for job in jobs:
                    job.cancel()
                return

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        for job in jobs:
            job.cancel()
