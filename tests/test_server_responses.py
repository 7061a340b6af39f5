"""/v1/responses on the real model: the object and its stream against the spec and the SDK, the
same generation as chat, stored responses (retrieve, input items, delete, previous_response_id),
persistence across a restart, and the error envelope for what is wrong or not implemented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from conformance import openapi
from reference_server import cli
from reference_server.launcher import RunningServer, free_port, running_server

SEA = "Write one sentence about the sea."
PIRATE = "You are a pirate. Always answer like a pirate."
GREEDY: dict[str, Any] = {"temperature": 0, "max_output_tokens": 16}


@pytest.fixture(scope="module")
def client(strict_client: openai.OpenAI) -> openai.OpenAI:
    """Responses answers are checked against the SDK's types on every call."""
    return strict_client


def post(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/responses", json=body, timeout=120)


def create(server: RunningServer, model_id: str, **body: Any) -> dict[str, Any]:
    answer = post(server, {"model": model_id, **GREEDY, **body})
    assert answer.status_code == 200, answer.text
    return answer.json()


def text_of(response: dict[str, Any]) -> str:
    return "".join(p["text"] for item in response["output"] if item["type"] == "message" for p in item["content"])


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs, asserting the framing OpenAI uses: `event: <type>\\ndata: <json>\\n\\n`."""
    assert text.endswith("\n\n")
    out = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), repr(block)
        out.append((lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))))
    return out


def assert_error(answer: httpx.Response, status: int, param: str | None, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert openapi.schema_errors(answer.json(), "ErrorResponse") == []
    error = answer.json()["error"]
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error


# --- the response object ---------------------------------------------------------------------------


def test_response_object_matches_spec_sdk_and_usage(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    raw = create(server, model_id, input=SEA)
    assert openapi.schema_errors(raw, "Response") == []
    assert raw["object"] == "response" and raw["id"].startswith("resp_") and raw["model"] == model_id
    assert isinstance(raw["created_at"], int) and isinstance(raw["completed_at"], int)
    message = raw["output"][0]
    assert message["type"] == "message" and message["role"] == "assistant" and message["id"].startswith("msg_")
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["annotations"] == []
    usage = raw["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert 0 <= usage["input_tokens_details"]["cached_tokens"] <= usage["input_tokens"]
    assert raw["store"] is True and raw["temperature"] == 0 and raw["top_p"] == 1
    assert raw["tools"] == [] and raw["tool_choice"] == "auto" and raw["text"]["format"] == {"type": "text"}
    parsed = client.responses.create(model=model_id, input=SEA, **GREEDY)
    assert parsed.output_text == text_of(raw)


def test_max_output_tokens_makes_the_response_incomplete(server: RunningServer, model_id: str) -> None:
    long = create(server, model_id, input=SEA, max_output_tokens=40)
    assert long["status"] == "completed" or long["usage"]["output_tokens"] == 40
    short = create(server, model_id, input=SEA, max_output_tokens=16)
    assert long["usage"]["output_tokens"] > 16, "the baseline must be longer than the limit"
    assert short["status"] == "incomplete"
    assert short["incomplete_details"] == {"reason": "max_output_tokens"}
    assert short["output"][0]["status"] == "incomplete"
    assert short["usage"]["output_tokens"] == 16
    assert text_of(long).startswith(text_of(short))
    done = create(server, model_id, input="What is 2+2? Answer with a number.", max_output_tokens=40)
    assert done["status"] == "completed" and done["incomplete_details"] is None
    assert done["output"][0]["status"] == "completed"


def test_same_generation_as_chat(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    """Prompt rendering and the engine are the chat path's: the same conversation, the same text."""
    chat = client.chat.completions.create(
        model=model_id, temperature=0, max_tokens=16, messages=[{"role": "system", "content": PIRATE}, {"role": "user", "content": SEA}]
    )
    with_instructions = create(server, model_id, input=SEA, instructions=PIRATE)
    as_system = create(server, model_id, input=[{"role": "system", "content": PIRATE}, {"role": "user", "content": SEA}])
    assert text_of(with_instructions) == text_of(as_system) == chat.choices[0].message.content
    assert with_instructions["instructions"] == PIRATE


def test_input_forms_are_equivalent(server: RunningServer, model_id: str) -> None:
    forms = [
        SEA,
        [{"role": "user", "content": SEA}],
        [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": SEA}]}],
    ]
    texts = {text_of(create(server, model_id, input=form)) for form in forms}
    assert len(texts) == 1


def test_function_call_items_render_like_chat_tool_messages(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    question = "What is the weather in Paris?"
    chat = client.chat.completions.create(
        model=model_id,
        temperature=0,
        max_tokens=16,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Heavy snow."},
        ],
    )  # fmt: skip
    items = [
        {"role": "user", "content": question},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Heavy snow."},
    ]
    answer = create(server, model_id, input=items)
    assert text_of(answer) == chat.choices[0].message.content
    listed = httpx.get(f"{server.base_url}/responses/{answer['id']}/input_items", params={"order": "asc"}).json()
    assert [i["type"] for i in listed["data"]] == ["message", "function_call", "function_call_output"]
    assert listed["data"][1]["id"].startswith("fc_") and listed["data"][2]["output"] == "Heavy snow."


def test_reasoning_is_accepted_and_echoed(server: RunningServer, model_id: str) -> None:
    answer = create(server, model_id, input=SEA, reasoning={"effort": "low"})
    assert answer["reasoning"] == {"effort": "low", "summary": None}
    assert answer["usage"]["output_tokens_details"]["reasoning_tokens"] == 0
    assert text_of(answer) == text_of(create(server, model_id, input=SEA))


def test_logprobs_on_request(server: RunningServer, model_id: str) -> None:
    answer = create(server, model_id, input=SEA, include=["message.output_text.logprobs"], top_logprobs=2)
    logprobs = answer["output"][0]["content"][0]["logprobs"]
    assert openapi.schema_errors(answer, "Response") == []
    assert len(logprobs) == answer["usage"]["output_tokens"]
    assert "".join(e["token"] for e in logprobs) == text_of(answer)
    assert all(len(e["top_logprobs"]) == 2 and e["logprob"] <= 0 for e in logprobs)
    assert create(server, model_id, input=SEA)["output"][0]["content"][0]["logprobs"] == []


# --- streaming ---------------------------------------------------------------------------------------


def test_stream_event_sequence(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    plain = create(server, model_id, input=SEA)
    with httpx.stream("POST", f"{server.base_url}/responses", json={"model": model_id, **GREEDY, "input": SEA, "stream": True}, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    for name, data in events:
        assert name == data["type"]
        assert openapi.schema_errors(data, "ResponseStreamEvent") == [], data["type"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    types = [name for name, _ in events]
    deltas = [d for _, d in events if d["type"] == "response.output_text.delta"]
    assert types == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * len(deltas),
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete",
    ]  # fmt: skip
    by_type = {d["type"]: d for _, d in events}
    assert by_type["response.created"]["response"]["status"] == "in_progress"
    assert by_type["response.created"]["response"]["output"] == []
    text = "".join(d["delta"] for d in deltas)
    assert text == by_type["response.output_text.done"]["text"] == by_type["response.content_part.done"]["part"]["text"]
    assert text == text_of(plain)
    final = by_type["response.incomplete"]["response"]
    assert final["output"][0] == by_type["response.output_item.done"]["item"]
    assert final["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert {d.get("item_id") for d in deltas} == {final["output"][0]["id"]}
    stored = httpx.get(f"{server.base_url}/responses/{final['id']}").json()
    assert stored == final
    seen = [e.type for e in client.responses.create(model=model_id, input=SEA, stream=True, **GREEDY)]
    assert seen == types


def test_stream_that_completes_ends_with_response_completed(server: RunningServer, model_id: str) -> None:
    body = {"model": model_id, "input": "What is 2+2? Answer with a number.", "temperature": 0, "max_output_tokens": 40, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/responses", json=body, timeout=120) as r:
        events = sse_events(r.read().decode())
    assert events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["status"] == "completed"


# --- stored responses --------------------------------------------------------------------------------


def test_retrieve_input_items_and_delete(server: RunningServer, client: openai.OpenAI, model_id: str) -> None:
    created = create(server, model_id, input=[{"role": "developer", "content": PIRATE}, {"role": "user", "content": SEA}])
    url = f"{server.base_url}/responses/{created['id']}"
    assert httpx.get(url).json() == created
    assert client.responses.retrieve(created["id"]).id == created["id"]
    items = httpx.get(f"{url}/input_items").json()
    assert items["object"] == "list" and items["has_more"] is False
    assert [i["role"] for i in items["data"]] == ["user", "developer"], "newest first by default"
    assert items["data"][0]["content"] == [{"type": "input_text", "text": SEA}]
    assert (items["first_id"], items["last_id"]) == (items["data"][0]["id"], items["data"][1]["id"])
    page = httpx.get(f"{url}/input_items", params={"order": "asc", "limit": 1}).json()
    assert [i["role"] for i in page["data"]] == ["developer"] and page["has_more"] is True
    rest = httpx.get(f"{url}/input_items", params={"order": "asc", "after": page["last_id"]}).json()
    assert [i["role"] for i in rest["data"]] == ["user"] and rest["has_more"] is False
    assert [i.id for i in client.responses.input_items.list(created["id"])] == [i["id"] for i in items["data"]]
    deleted = httpx.delete(url)
    assert deleted.status_code == 200 and deleted.json() == {"id": created["id"], "object": "response", "deleted": True}
    assert_error(httpx.get(url), 404, None)
    assert_error(httpx.delete(url), 404, None)
    assert_error(httpx.get(f"{url}/input_items"), 404, None)


def test_store_false_is_not_kept(server: RunningServer, model_id: str) -> None:
    created = create(server, model_id, input=SEA, store=False)
    assert created["store"] is False
    assert_error(httpx.get(f"{server.base_url}/responses/{created['id']}"), 404, None)
    follow = post(server, {"model": model_id, "input": "Go on.", "previous_response_id": created["id"]})
    assert_error(follow, 400, "previous_response_id", "previous_response_not_found")


def conversation(said: list[str], answers: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The whole exchange spelled out: each user turn, followed by the answer it got (if any yet)."""
    turns = []
    for i, text in enumerate(said):
        turns.append({"role": "user", "content": text})
        if i < len(answers):
            turns.append({"role": "assistant", "content": text_of(answers[i])})
    return turns


def test_previous_response_id_continues_the_conversation(server: RunningServer, model_id: str) -> None:
    said = ["My name is Zorblax. Remember it.", "What is my name?", "Say it again."]
    first = create(server, model_id, input=said[0], instructions=PIRATE)
    second = create(server, model_id, input=said[1], previous_response_id=first["id"])
    explicit = create(server, model_id, input=conversation(said[:2], [first]))
    assert second["previous_response_id"] == first["id"]
    assert text_of(second) == text_of(explicit), "the earlier input and output come first; instructions do not carry over"
    third = create(server, model_id, input=said[2], previous_response_id=second["id"])
    explicit_third = create(server, model_id, input=conversation(said, [first, second]))
    assert text_of(third) == text_of(explicit_third), "the whole chain is continued"
    items = httpx.get(f"{server.base_url}/responses/{third['id']}/input_items").json()["data"]
    assert [i["content"][0]["text"] for i in items] == ["Say it again."], "input_items lists this response's own input"


def test_stored_responses_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "responses.sqlite3"
    args = ["--responses-db", str(db)]
    with running_server(extra_args=args, log_path=str(tmp_path / "one.log")) as srv:
        model_id = httpx.get(f"{srv.base_url}/models").json()["data"][0]["id"]
        first = create(srv, model_id, input="My name is Zorblax. Remember it.")
        gone = create(srv, model_id, input=SEA)
        assert httpx.delete(f"{srv.base_url}/responses/{gone['id']}").status_code == 200
    with running_server(extra_args=args, log_path=str(tmp_path / "two.log")) as srv:
        assert httpx.get(f"{srv.base_url}/responses/{first['id']}").json() == first
        assert httpx.get(f"{srv.base_url}/responses/{gone['id']}").status_code == 404
        items = httpx.get(f"{srv.base_url}/responses/{first['id']}/input_items").json()
        assert items["data"][0]["content"][0]["text"] == "My name is Zorblax. Remember it."
        follow = create(srv, model_id, input="What is my name?", previous_response_id=first["id"])
        assert follow["status"] in ("completed", "incomplete")


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"input": SEA, "max_output_tokens": 15}, 400, "max_output_tokens", "integer_below_min_value"),
        ({"input": SEA, "temperature": 3}, 400, "temperature", None),
        ({"input": SEA, "stop": ["x"]}, 400, "stop", "unknown_parameter"),
        ({}, 400, "input", "missing_required_parameter"),
        ({"input": [{"type": "reasoning", "summary": []}]}, 400, "input[0].type", "invalid_value"),
        # Untyped, but with keys an easy message does not have: the spec's oneOf matches no single item.
        ({"input": [{"role": "assistant", "content": [], "id": "", "status": "in_progress"}]}, 400, "input[0].type", "missing_required_parameter"),
        ({"input": [{"id": "msg_1"}]}, 400, "input[0].type", "missing_required_parameter"),
        # output_text's annotations are required by the spec and the SDK's ResponseOutputTextParam (found by fuzzing)
        ({"input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]}]}, 400, "input[0].content[0].annotations", "missing_required_parameter"),
        ({"input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": [{"token": "", "logprob": 0, "bytes": []}]}]}]}, 400, "input[0].content[0].logprobs[0].top_logprobs", "missing_required_parameter"),
        ({"input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "", "annotations": [{"type": "file_path"}]}]}]}, 400, "input[0].content[0].annotations[0].file_id", "missing_required_parameter"),
        ({"input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "", "annotations": [{"type": "url_citation", "url": "", "start_index": 0, "end_index": 0, "title": ""}]}]}]}, 400, "input[0].content[0].annotations[0].url", None),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}, 400, "input[0].content[0]", "unsupported_content_type"),
        ({"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]}, 400, "input[0].content[0].type", "invalid_value"),
        ({"input": SEA, "previous_response_id": "resp_does_not_exist"}, 400, "previous_response_id", "previous_response_not_found"),
        ({"input": SEA, "background": True}, 400, "background", "unsupported_parameter"),
        ({"input": SEA, "include": ["no.such.thing"]}, 400, "include[0]", "invalid_value"),
        ({"input": SEA, "stream_options": {"include_obfuscation": False}}, 400, "stream_options", "invalid_value"),
        ({"input": SEA, "model": "no-such-model"}, 404, "model", "model_not_found"),
    ],
)  # fmt: skip
def test_bad_requests_get_the_error_envelope(
    server: RunningServer, model_id: str, body: dict[str, Any], status: int, param: str | None, code: str | None
) -> None:
    assert_error(post(server, {"model": model_id, **body}), status, param, code)


def test_bad_query_parameters(server: RunningServer, model_id: str) -> None:
    created = create(server, model_id, input="Hi")
    url = f"{server.base_url}/responses/{created['id']}/input_items"
    assert_error(httpx.get(url, params={"limit": 0}), 400, "limit")
    assert_error(httpx.get(url, params={"limit": "x"}), 400, "limit")
    assert_error(httpx.get(url, params={"order": "up"}), 400, "order")
    assert_error(httpx.get(url, params={"after": "msg_nope"}), 400, "after")
    assert_error(httpx.post(f"{server.base_url}/responses/{created['id']}/cancel"), 400, "response_id")
    assert_error(httpx.post(f"{server.base_url}/responses/resp_nope/cancel"), 404, None)


def test_unusable_database_path_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = cli.main(["--port", str(free_port()), "--responses-db", str(blocker / "responses.sqlite3")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "responses database" in err and "Traceback" not in err


def test_an_answer_sent_back_as_input_is_accepted(server: RunningServer, model_id: str) -> None:
    """Clients echo output items (annotations, logprobs and all) into the next request's input."""
    first = create(server, model_id, input=SEA, top_logprobs=2, include=["message.output_text.logprobs"])
    message = next(item for item in first["output"] if item["type"] == "message")
    assert message["content"][0]["logprobs"], "the echo must carry logprobs to prove they are read"
    create(server, model_id, input=[message, {"role": "user", "content": "Go on."}])
