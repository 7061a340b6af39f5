"""`/v1/responses`: create (streamed or not), retrieve, delete and list input items."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from openai.types.responses import ResponseItemList, ResponseStreamEvent

from ..engine import ChoiceDone, Job, JobCancelled, JobDone, JobFailed, TextDelta
from ..errors import APIError, invalid_value
from ..registry import ModelRegistry
from ..request_body import read_body
from ..streaming import cancel_on_disconnect, sse_response
from .output import EventSequence, ResponseDraft
from .plan import ResponsePlan, plan_response
from .request import CreateResponseRequest
from .store import ResponseStore, StoredResponse

router = APIRouter()


def _store(request: Request) -> ResponseStore:
    return request.app.state.response_store


def not_found(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.")


_TIMES = ("created_at", "completed_at")


def _whole_seconds(node: Any) -> Any:
    """The openai types hold timestamps as floats; OpenAI sends whole seconds (`1741476542`)."""
    if isinstance(node, dict):
        return {k: int(v) if k in _TIMES and isinstance(v, float) else _whole_seconds(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_whole_seconds(v) for v in node]
    return node


def _dump(obj: Any) -> dict[str, Any]:
    return _whole_seconds(obj.model_dump(mode="json", by_alias=True, exclude_unset=True))


async def _save(store: ResponseStore, plan: ResponsePlan, body: dict[str, Any]) -> None:
    """Keep a finished response, with the conversation a follow-up continues from."""
    if not plan.store:
        return
    record = StoredResponse(
        id=body["id"],
        created_at=int(body["created_at"]),
        response=body,
        input_items=plan.input_items,
        conversation=[*plan.context, *body["output"]],
    )
    await asyncio.to_thread(store.save, record)


@router.post("/v1/responses")
async def create_response(request: Request) -> Any:
    body = await read_body(request, CreateResponseRequest)
    registry: ModelRegistry = request.app.state.registry
    model = registry.get(body.model)
    store = _store(request)
    previous = None
    if body.previous_response_id is not None:
        previous = await asyncio.to_thread(store.get, body.previous_response_id)
    plan = plan_response(body, model, previous)
    job = model.engine.submit(plan.generation)
    draft = ResponseDraft(plan, model.id, model.engine.token_bytes)
    if plan.stream:
        return sse_response(_stream(job, draft, plan, store))
    async with cancel_on_disconnect(request, [job]):
        async for event in job.events():
            if isinstance(event, TextDelta):
                draft.feed(event)
            elif isinstance(event, ChoiceDone):
                draft.end(event)
            elif isinstance(event, JobFailed):
                raise APIError(500, event.message, type="server_error")
            elif isinstance(event, JobDone):
                draft.finish(event)
                answer = _dump(draft.response("incomplete" if draft.incomplete else "completed"))
                await _save(store, plan, answer)
                return JSONResponse(answer)
            elif isinstance(event, JobCancelled):
                break
    return Response(status_code=499)  # the client hung up: nobody reads this


def _sse(event: ResponseStreamEvent) -> dict[str, str]:
    """OpenAI names every event (`event:` line) after its type as well."""
    return {"event": event.type, "data": json.dumps(_dump(event), ensure_ascii=False, separators=(",", ":"))}


async def _stream(job: Job, draft: ResponseDraft, plan: ResponsePlan, store: ResponseStore) -> AsyncIterator[dict[str, str]]:
    events = EventSequence(draft)
    try:
        for event in events.start():
            yield _sse(event)
        async for item in job.events():
            if isinstance(item, TextDelta):
                for event in events.changes(draft.feed(item)):
                    yield _sse(event)
            elif isinstance(item, ChoiceDone):
                for event in events.changes(draft.end(item)):
                    yield _sse(event)
            elif isinstance(item, JobDone):
                draft.finish(item)
                terminal = events.finish()
                await _save(store, plan, _dump(terminal.response))  # type: ignore[union-attr]
                yield _sse(terminal)
            elif isinstance(item, JobFailed):
                yield _sse(events.failed(item.message))
            elif isinstance(item, JobCancelled):
                return
    finally:
        job.cancel()


@router.get("/v1/responses/{response_id}")
async def retrieve_response(request: Request, response_id: str) -> Any:
    if request.query_params.get("stream", "").lower() == "true":
        raise APIError(
            400, "Streaming a stored response is only supported for background responses.", param="stream", code="unsupported_parameter"
        )
    record = await asyncio.to_thread(_store(request).get, response_id)
    if record is None:
        raise not_found(response_id)
    return JSONResponse(record.response)


@router.delete("/v1/responses/{response_id}")
async def delete_response(request: Request, response_id: str) -> Any:
    if not await asyncio.to_thread(_store(request).delete, response_id):
        raise not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.post("/v1/responses/{response_id}/cancel")
async def cancel_response(request: Request, response_id: str) -> Any:
    """Only background responses can be cancelled, and this server runs none in the background."""
    if await asyncio.to_thread(_store(request).get, response_id) is None:
        raise not_found(response_id)
    raise APIError(400, "Only responses created with background=true can be cancelled.", param="response_id")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return 20
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_value("limit", f"Invalid 'limit': expected an integer, but got {raw!r} instead.") from None
    if not 1 <= limit <= 100:
        raise invalid_value("limit", f"Invalid 'limit': expected a value between 1 and 100, but got {limit} instead.")
    return limit


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: Request, response_id: str) -> Any:
    limit = _limit(request)
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.")
    record = await asyncio.to_thread(_store(request).get, response_id)
    if record is None:
        raise not_found(response_id)
    items = record.input_items if order == "asc" else list(reversed(record.input_items))
    after = request.query_params.get("after")
    if after is not None:
        ids = [i.get("id") for i in items]
        if after not in ids:
            raise invalid_value("after", f"No input item with id '{after}' in response '{response_id}'.")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    listing = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
    if page:  # the items were built with openai's types; the page must still be one
        ResponseItemList.model_validate(listing)
    return JSONResponse(listing)
