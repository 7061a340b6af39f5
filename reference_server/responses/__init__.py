"""The Responses API (`/v1/responses`): request model, conversation items, output and events,
the SQLite store of responses, and the routes. Generation itself is the chat path's."""

from .route import router
from .store import MEMORY, ResponseStore, StoreError

__all__ = ["MEMORY", "ResponseStore", "StoreError", "router"]
