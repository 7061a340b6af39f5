"""The Responses pieces that need no model: the SQLite store and items <-> chat messages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance import openapi
from reference_server.errors import APIError
from reference_server.responses.conversation import chat_messages, input_items
from reference_server.responses.request import EASY_MESSAGE_KEYS, CreateResponseRequest
from reference_server.responses.store import RETENTION_SECONDS, ResponseStore, StoredResponse, StoreError
from reference_server.schemas import AssistantMessage, SystemMessage, ToolMessage, UserMessage


def record(response_id: str, created_at: int | None = None) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        created_at=int(time.time()) if created_at is None else created_at,
        response={"id": response_id, "object": "response", "output": []},
        input_items=[{"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        conversation=[{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
    )


def test_store_round_trip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "responses.sqlite3"
    store = ResponseStore(path)
    kept = record("resp_a")
    store.save(kept)
    store.save(record("resp_b"))
    assert store.get("resp_a") == kept
    assert store.delete("resp_b") is True and store.delete("resp_b") is False
    store.close()
    reopened = ResponseStore(path)
    assert reopened.get("resp_a") == kept and reopened.get("resp_b") is None
    assert reopened.get("resp_missing") is None
    reopened.close()


def test_store_forgets_responses_after_thirty_days(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    store = ResponseStore(path)
    store.save(record("resp_old", created_at=int(time.time()) - RETENTION_SECONDS - 10))
    store.save(record("resp_new"))
    store.close()
    reopened = ResponseStore(path)
    assert reopened.get("resp_old") is None and reopened.get("resp_new") is not None
    reopened.close()


def test_memory_store_and_unusable_paths(tmp_path: Path) -> None:
    memory = ResponseStore()
    memory.save(record("resp_m"))
    assert memory.get("resp_m") is not None
    not_a_db = tmp_path / "junk.sqlite3"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite3"):
        ResponseStore(not_a_db)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot use responses database"):
        ResponseStore(blocker / "x.sqlite3")


def test_items_become_chat_messages() -> None:
    body = CreateResponseRequest.model_validate(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city": "Paris"}'},
                {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"city": "Rome"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "Rain"}]},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Sunny and rain.", "annotations": []}]},
            ],
        }
    )
    items = input_items(body.input)
    assert [i["id"][:3] for i in items] == ["msg", "fc_", "fc_", "fco", "fco", "msg"]
    messages = chat_messages("Be brief.", items)
    assert [type(m) for m in messages] == [SystemMessage, UserMessage, AssistantMessage, ToolMessage, ToolMessage, AssistantMessage]
    calls = messages[2].tool_calls or []
    assert [c.id if hasattr(c, "id") else c["id"] for c in calls] == ["c1", "c2"], "parallel calls are one assistant turn"
    assert messages[4].content == "Rain" and messages[5].content == "Sunny and rain."


def test_wrong_parts_for_the_role_are_refused() -> None:
    for item, param in [
        ({"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}, "input[0].content[0].type"),
        ({"role": "user", "content": [{"type": "output_text", "text": "x", "annotations": []}]}, "input[0].content[0].type"),
        ({"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}, "input[0].content[0]"),
    ]:
        body = CreateResponseRequest.model_validate({"model": "m", "input": [item]})
        with pytest.raises(APIError) as caught:
            input_items(body.input)
        assert caught.value.param == param and caught.value.status_code == 400


def test_untyped_items_are_easy_messages_exactly_as_the_spec_says() -> None:
    easy = openapi.load_spec()["components"]["schemas"]["EasyInputMessage"]
    assert set(easy["properties"]) - {"type"} == EASY_MESSAGE_KEYS
