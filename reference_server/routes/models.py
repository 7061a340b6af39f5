"""`GET /v1/models` and `GET /v1/models/{model}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..registry import ModelRegistry

router = APIRouter()


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [m.card().model_dump(mode="json", exclude_unset=True) for m in _registry(request)],
    }


@router.get("/v1/models/{model:path}")
async def retrieve_model(model: str, request: Request) -> dict[str, Any]:
    return _registry(request).get(model).card().model_dump(mode="json", exclude_unset=True)
