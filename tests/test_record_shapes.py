"""Shapes and the three checks a recorded call is replayed with: `shape`, `all_in`, `in_order`.

Each check is shown to pass on an answer with the recorded shape and to fail, naming the field, on
one that lacks it; the end-to-end proof on real answers is tests/test_record.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from conformance import shapes
from conformance.cases import Expectation, load_file
from conformance.checks import judge
from conformance.errors import UsageError
from conformance.record.cassette import RecordedCall, case_for, endpoint_of

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 5},
}


def edited(**changes: Any) -> dict[str, Any]:
    """ANSWER with dotted paths set (None deletes): edited(**{"usage.prompt_tokens": "3"})."""
    value = copy.deepcopy(ANSWER)
    for path, new in changes.items():
        *parents, last = path.split(".")
        node: Any = value
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if new is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = new
    return value


def test_skeleton_keeps_fields_and_types_not_values() -> None:
    skeleton = shapes.skeleton(ANSWER)
    assert skeleton["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "string",
        "arguments": "json",
    }
    assert skeleton["usage"] == {"prompt_tokens": "integer", "completion_tokens": "integer"}
    assert skeleton["choices"][0]["logprobs"] == "null"
    assert shapes.problem(skeleton) == ""


def test_the_same_shape_with_other_values_has_no_differences() -> None:
    other = edited(
        **{"id": "x", "usage.prompt_tokens": 99, "choices.0.message.tool_calls.0.function.arguments": "[]"}
    )
    other["extra"] = {"ignored": True}
    other["choices"][0]["logprobs"] = {"content": []}  # recorded null: anything goes
    assert shapes.differences(shapes.skeleton(ANSWER), other) == []


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({"usage": None}, "usage is missing (recorded an object)"),
        ({"usage.prompt_tokens": "3"}, 'usage.prompt_tokens is a string "3", recorded integer'),
        ({"id": None}, "id is missing (recorded string)"),
        ({"choices": []}, "choices is an empty array, recorded a non-empty one"),
        (
            {"choices.0.message.tool_calls.0.function.arguments": "{oops"},
            "arguments is a string that is not JSON",
        ),
        ({"choices.0.message.role": None}, "choices[0].message.role is missing"),
        ({"choices.0.message": "hi"}, 'choices[0].message is a string "hi", recorded an object'),
    ],
)
def test_differences_name_the_field(change: dict[str, Any], reported: str) -> None:
    found = shapes.summarize(shapes.differences(shapes.skeleton(ANSWER), edited(**change)))
    assert reported in found


def test_null_where_a_type_was_recorded_is_a_difference() -> None:
    skeleton = shapes.skeleton({"content": "text"})
    assert shapes.differences(skeleton, {"content": None}) == ["content is null, recorded string"]


def test_merge_keeps_common_keys_and_joins_types() -> None:
    chunks = [
        {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}], "usage": None},
        {"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}], "usage": None},
        {"choices": [], "usage": {"total_tokens": 3}},
    ]
    merged = shapes.skeleton(chunks)
    assert merged == [
        {
            "choices": [{"delta": {}, "finish_reason": "string|null"}, shapes.MAY_BE_EMPTY],
            "usage": "object|null",
        }
    ]
    assert shapes.differences(merged, chunks) == []
    assert shapes.differences(merged, [{"choices": [{"finish_reason": None}], "usage": None}]) == [
        "[0].choices[0].delta is missing (recorded an object)"
    ]


def test_summary_counts_the_same_difference_in_many_elements_once() -> None:
    skeleton = shapes.skeleton([{"a": 1}])
    line = shapes.summarize(shapes.differences(skeleton, [{"b": 1}] * 5))
    assert line == "[0].a is missing (recorded integer) (and 4 more like it)"


def test_pinned_paths_reach_into_arrays() -> None:
    paths = shapes.pinned_paths(shapes.skeleton(ANSWER), ("finish_reason", "name", "object"), "body")
    assert paths == [
        "body.object",
        "body.choices[*].finish_reason",
        "body.choices[*].message.tool_calls[*].function.name",
    ]


def test_in_order_and_all_in() -> None:
    recorded = ["created", "delta", "done"]
    assert shapes.in_order_predicate(["created", "extra", "delta", "delta", "done"], recorded, {}) == ""
    assert "'delta'" not in shapes.in_order_predicate(["created", "done"], recorded, {})
    assert '"delta" (recorded 2 of 3) is missing after "created"' in shapes.in_order_predicate(
        ["created", "done"], recorded, {}
    )
    assert "comes too early" in shapes.in_order_predicate(["created", "done", "delta"], recorded, {})
    assert shapes.all_in_predicate([["stop"], ["stop"]], ["stop"], {}) == ""
    assert shapes.all_in_predicate(["length"], ["stop"], {}) == 'has "length", recorded only ["stop"]'
    assert shapes.all_in_predicate([], ["stop"], {}).startswith("has no values")


# --- the checks, as the runner judges them ------------------------------------------------------------

CHECKS = [
    ({"field": "body", "shape": shapes.skeleton(ANSWER)}, {"usage": None}, "usage is missing"),
    ({"field": "body.choices[*].finish_reason", "all_in": ["tool_calls"]}, {"choices.0.finish_reason": "stop"}, "recorded only"),
    ({"field": "body.choices[*].message.tool_calls[*].function.name", "all_in": ["f"]}, {"choices.0.message.tool_calls": []}, "no values"),
    ({"field": "body.choices[*].message.tool_calls[*].type", "in_order": ["function"]}, {"choices.0.message.tool_calls.0.type": "x"}, "missing"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "change", "detail"), CHECKS)
def test_each_new_check_passes_on_the_recorded_answer_and_fails_on_a_changed_one(
    spec: dict[str, Any], change: dict[str, Any], detail: str
) -> None:
    exp = Expectation.model_validate(spec)
    good = judge(exp, {"body": ANSWER}, {}, None)
    bad = judge(exp, {"body": edited(**change)}, {}, None)
    assert good.passed, good.detail
    assert not bad.passed and detail in bad.detail, bad.detail


def test_a_field_that_is_not_there_fails_every_new_check() -> None:
    for spec, _, _ in CHECKS:
        outcome = judge(
            Expectation.model_validate({**spec, "field": "body.nothing"}), {"body": ANSWER}, {}, None
        )
        assert not outcome.passed and "missing" in outcome.detail


def test_a_misspelt_shape_fails_the_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "endpoint: models\ncases:\n- id: a\n  parameter: p\n  steps:\n  - http: {method: GET, path: /models}\n"
        "    expect:\n    - field: body\n      shape: {data: [{id: strnig}]}\n"
    )
    with pytest.raises(UsageError, match="unknown type 'strnig'"):
        load_file(path)


# --- cassette entries --------------------------------------------------------------------------------------


def recorded(
    body: dict[str, Any], status: int, answer: Any, path: str = "/chat/completions", **headers: str
) -> RecordedCall:
    import json

    return RecordedCall(
        seq=3,
        method="POST",
        path=path,
        request_headers={"content-type": "application/json", **headers},
        request_body=json.dumps(body).encode(),
        status=status,
        response_headers={"content-type": "application/json"},
        response_body=json.dumps(answer).encode(),
    )


def test_a_case_keeps_the_request_with_its_model_as_a_parameter_and_no_secret() -> None:
    key = "sk-secret-abcdef"
    body = {"model": "m1", "messages": [{"role": "user", "content": f"costs ${{x}} and {key}"}], "tools": []}
    case = case_for(
        recorded(
            body, 200, ANSWER, path=f"/chat/completions?api-key={key}&v=1", authorization=f"Bearer {key}"
        )
    )
    http = case["steps"][0]["http"]
    assert case["id"] == "rec.chat.completions.003" and case["parameter"] == "tools"
    assert http["path"] == "/chat/completions?v=1"
    assert http["json"]["model"] == "${model}"
    assert (
        http["json"]["messages"][0]["content"] == "costs $${x} and [REDACTED]"
    )  # literal text, not an expression
    assert key not in str(case)


def test_a_call_refused_for_its_model_keeps_the_model() -> None:
    error = {
        "error": {
            "message": "The model `nope` does not exist",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    case = case_for(recorded({"model": "nope", "messages": []}, 404, error))
    assert case["steps"][0]["http"]["json"]["model"] == "nope"
    assert case["steps"][0]["expect"][0] == {"status": 404}


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/chat/completions", "chat.completions"),
        ("/responses/r1/input_items", "responses"),
        ("/models/m", "models"),
        ("/", "root"),
    ],
)
def test_endpoint_names(path: str, endpoint: str) -> None:
    assert endpoint_of(path) == endpoint


def test_a_model_in_the_path_becomes_the_parameter_too() -> None:
    call = recorded({}, 200, {"id": "m1", "object": "model"}, path="/models/m1")
    call.method, call.request_body = "GET", b""
    case = case_for(call)
    assert case["steps"][0]["http"] == {"method": "GET", "path": "/models/${model}"}
    assert case["parameter"] == "GET /models/{model}"
    call.status = 404  # the point of this call is that very name
    assert case_for(call)["steps"][0]["http"]["path"] == "/models/m1"


def test_server_errors_and_abandoned_calls_are_reported_not_recorded(tmp_path: Path) -> None:
    from conformance.record.cassette import Cassette
    from conformance.record.proxy import Recorder

    said: list[str] = []
    recorder = Recorder(
        "http://127.0.0.1:9/v1", Cassette(tmp_path / "c.yaml", "http://127.0.0.1:9/v1"), said.append
    )
    recorder.record(recorded({"model": "m"}, 500, {"error": {"message": "boom"}}))
    recorder.record(recorded({"model": "m"}, 200, ANSWER))
    assert said == [
        "#3 POST /chat/completions -> HTTP 500: not recorded (a server error is nothing to compare with)",
        "#3 POST /chat/completions -> HTTP 200, recorded as rec.chat.completions.003",
    ]
    assert recorder.not_recorded == 1 and [c.id for c in load_file(tmp_path / "c.yaml")] == [
        "rec.chat.completions.003"
    ]


def test_a_chain_of_references_replays_every_call_it_depends_on_oldest_first() -> None:
    from conformance.record import chain

    answers: dict[str, chain.Answer] = {}
    cases = []
    previous = None
    for seq in (1, 2, 3):
        body = {"model": "m", "input": "hi", **({"previous_response_id": previous} if previous else {})}
        call = recorded(body, 200, {"id": f"resp_{seq:08d}", "object": "response"}, path="/responses")
        call.seq = seq
        cases.append(case_for(call, answers))
        answer = chain.answer_of(call, "responses")
        assert answer is not None
        answers[answer.id] = answer
        previous = answer.id
    steps = cases[2]["steps"]
    assert [s["name"] for s in steps] == ["call001", "call002", "call"]
    assert "previous_response_id" not in steps[0]["http"]["json"]
    assert steps[1]["http"]["json"]["previous_response_id"] == "${call001.body.id}"
    assert steps[2]["http"]["json"]["previous_response_id"] == "${call002.body.id}"
    assert steps[0]["expect"] == [{"status": 200}]


def test_group_by_puts_a_streams_events_of_each_kind_together() -> None:
    from conformance import expressions

    events = [{"type": "a", "n": 1}, {"type": "b"}, {"type": "a", "n": 2}, "[DONE]"]
    grouped = expressions.evaluate("group_by(events, 'type')", {"events": events})
    assert grouped == {"a": [{"type": "a", "n": 1}, {"type": "a", "n": 2}], "b": [{"type": "b"}]}
    assert shapes.differences(shapes.skeleton(grouped), {"a": grouped["a"]}) == ["b is missing (recorded an array)"]
