"""The case format and the library API's usage errors: bad input is one clear line naming file and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conformance import expressions, responses_stream, sse
from conformance.api import RunConfig, list_cases, resolve_model, run_suite
from conformance.cases import Expectation
from conformance.checks import judge
from conformance.errors import UsageError
from conformance.paths import default_cases_dir
from reference_server.launcher import free_port

GOOD_STEP = """
      - sdk: chat.completions.create
        params: {messages: [{role: user, content: hi}], max_tokens: 2}
"""


def write_cases(tmp_path: Path, body: str, name: str = "x.yaml") -> Path:
    (tmp_path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


def test_packaged_cases_load_and_cover_the_issue_rows() -> None:
    cases = list_cases()
    assert default_cases_dir().is_dir()
    rows = {c.row for c in cases}
    for row in [
        "models/list", "models/retrieve", "chat.completions/messages", "chat.completions/messages.system",
        "chat.completions/messages.developer", "chat.completions/messages.assistant", "chat.completions/max_tokens",
        "chat.completions/max_completion_tokens", "chat.completions/temperature", "chat.completions/top_p",
        "chat.completions/stop", "chat.completions/seed", "chat.completions/n", "chat.completions/presence_penalty",
        "chat.completions/frequency_penalty", "chat.completions/logit_bias", "chat.completions/logprobs",
        "chat.completions/top_logprobs", "chat.completions/user", "chat.completions/stream",
        "chat.completions/stream_options.include_usage", "chat.completions/model",
    ]:  # fmt: skip
        assert row in rows, row
    assert {c.profile for c in cases} == {"core", "vllm"}  # vLLM extras are an extension profile


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("cases: [", "not valid YAML"),
        ("- just a list", "a mapping with a 'cases' list"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    stepz: []\n", "cases[0].stepz (case a): unknown field 'stepz'"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        expect: [{field: body.x, equal: 1}]\n", "cases[0].steps[0].expect[0].equal (case a): unknown field"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.nothing.create\n", "cases[0] (a).steps[0].sdk: the openai SDK has no method"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        params: {temprature: 1}\n", "has no parameter 'temprature'"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        params: {max_tokens: '${later.body}'}\n", "refers to 'later'"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        expect: [{schema: NoSuchSchema}]\n", "no schema 'NoSuchSchema'"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        expect: [{sse: done_first}]\n", "unknown sse check 'done_first'"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        expect: [{field: body.x}]\n", "needs a predicate"),
        ("endpoint: e\ncases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: chat.completions.create\n        params: {n: '${__import__(\"os\")}'}\n", "only these functions exist"),
        ("cases:\n  - id: a\n    parameter: p\n    steps:\n      - sdk: models.list\n", "no endpoint"),
        ("endpoint: e\nextra: 1\ncases: []\n", "unknown top-level key 'extra'"),
    ],
)
def test_bad_case_files_name_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    directory = write_cases(tmp_path, body)
    with pytest.raises(UsageError) as err:
        list_cases(directory)
    text = str(err.value)
    assert str(directory / "x.yaml") in text
    assert message in text, text
    assert "\n" not in text


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    case = "endpoint: e\ncases:\n  - id: dup\n    parameter: p\n    steps:\n      - sdk: models.list\n"
    write_cases(tmp_path, case, "a.yaml")
    write_cases(tmp_path, case, "b.yaml")
    with pytest.raises(UsageError, match="'dup' is also used in"):
        list_cases(tmp_path)


def test_patterns_select_ids_and_rows() -> None:
    assert {c.id for c in list_cases(only=["chat.completions/stop"])} == {
        "chat.stop.string", "chat.stop.list", "chat.stop.absent"
    }  # fmt: skip
    assert all(c.endpoint == "models" for c in list_cases(only=["models/*"]))
    assert "chat.stop.list" not in {c.id for c in list_cases(only=["chat.stop.*"], exclude=["*.list"])}
    with pytest.raises(UsageError, match="matches no case"):
        list_cases(only=["nothing.like.this"])
    with pytest.raises(UsageError, match="empty pattern"):
        list_cases(exclude=[""])


def test_unreachable_base_url_is_a_usage_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(UsageError, match=f"cannot reach {url}"):
        resolve_model(url, None, None, timeout=2)
    with pytest.raises(UsageError, match="cannot reach"):
        run_suite(RunConfig(base_url=url, only=["models.list"], timeout=2))


def test_unknown_model_and_missing_key(server, keyed_server) -> None:
    with pytest.raises(UsageError, match="no model 'gpt-nope'"):
        resolve_model(server.base_url, None, "gpt-nope")
    with pytest.raises(UsageError, match="requires an API key"):
        resolve_model(keyed_server.base_url, None, None)
    with pytest.raises(UsageError, match="did you mean"):
        resolve_model(server.base_url.removesuffix("/v1"), None, None)
    assert resolve_model(server.base_url + "/", None, None)


def test_expressions_are_typed_and_safe() -> None:
    names = {"b": {"body": {"choices": [{"message": {"content": "Hello there sailor"}}]}}, "model": "m"}
    assert expressions.render("${len(b.body.choices)}", names) == 1
    assert expressions.render("n=${len(b.body.choices)}", names) == "n=1"
    assert expressions.render("${before(b.body.choices[0].message.content, 'there')}", names) == "Hello "
    assert expressions.render({"${model}": "$${literal}"}, names) == {"m": "${literal}"}
    assert expressions.render("${bias(range(0, 6, 2), -100)}", names) == {"0": -100, "2": -100, "4": -100}
    assert expressions.resolve({"c": [{"i": 1}, {"i": 2}]}, "c[*].i") == [1, 2]
    with pytest.raises(expressions.MissingValue, match=r"b.body.choices\[3\] is missing"):
        expressions.render("${b.body.choices[3]}", names)
    for bad in ("b.__class__", "open('x')", "[x for x in b]", "lambda: 1"):
        with pytest.raises(expressions.ExpressionError):
            expressions.parse(bad)
    with pytest.raises(expressions.ExpressionError, match="too large"):
        expressions.render("${range(10000000)}", names)


def test_expression_helpers_for_non_repeatable_servers() -> None:
    """nth, agree and common_prefix: the helpers the cases use to judge several answers at once."""
    names = {"c": [{"top": [{"t": "a"}, {"t": "b"}]}, {"top": [{"t": "x"}]}, {"top": []}], "chosen": ["a", "y", "z"]}
    assert expressions.render("${pluck(nth(pluck(c, 'top'), 0), 't')}", names) == ["a", "x", None]
    assert expressions.render("${nth([[1, 2], [3]], 1)}", {}) == [2, None]
    assert expressions.render("${agree(pluck(nth(pluck(c, 'top'), 0), 't'), chosen)}", names) == 1 / 3
    assert expressions.render("${agree([1, 2], [1, 2, 3])}", {}) == 2 / 3
    assert expressions.render("${agree([], [])}", {}) == 1.0
    assert expressions.render("${common_prefix(['The sea is', 'The sea was', 'The seal'])}", {}) == "The sea"
    assert expressions.render("${common_prefix(['abc', 'xyz'])}", {}) == ""
    assert expressions.render("${common_prefix([])}", {}) == ""
    assert expressions.render("${common_prefix(['same', 'same'])}", {}) == "same"


def test_sse_parsing_and_framing() -> None:
    good = 'data: {"id":"a","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
    good += 'data: {"id":"a","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    parsed = sse.parse(good)
    assert len(parsed.events) == 3 and len(parsed.chunks) == 2
    # The chat framing checks; the Responses ones (named events) have their own tests.
    for name, (_, check) in sse.FRAMING_CHECKS.items():
        if name != "usage_chunk" and name not in responses_stream.CHECKS:
            assert check(parsed) == "", name
    assert sse.FRAMING_CHECKS["done_last"][1](sse.parse(good.replace("data: [DONE]\n\n", "")))
    assert sse.FRAMING_CHECKS["data_lines"][1](sse.parse("garbage\n" + good))
    assert sse.FRAMING_CHECKS["data_lines"][1](sse.parse(good.rstrip("\n")))  # unterminated last event
    assembled = sse.assemble_chat(parsed.chunks)
    assert assembled["choices"][0]["message"] == {"role": "assistant", "content": "x"}
    assert assembled["choices"][0]["finish_reason"] == "stop"


# Every predicate and subject of the vocabulary, each shown to pass on one value and fail on another.
PREDICATE_CASES = [
    ({"field": "v", "equals": 1}, 1, 2),
    ({"field": "v", "equals": True}, True, 1),
    ({"field": "v", "not_equals": "a"}, "b", "a"),
    ({"field": "v", "matches": "^ab"}, "abc", "cab"),
    ({"field": "v", "not_matches": "x"}, "abc", "xyz"),
    ({"field": "v", "exists": True}, 0, expressions.MissingValue),
    ({"field": "v", "exists": False}, expressions.MissingValue, 0),  # null counts as absent too ("tool_calls": null)
    ({"field": "v", "type": "integer"}, 3, 3.5),
    ({"field": "v", "type": ["string", "null"]}, None, 1),
    ({"field": "v", "count": 2}, [1, 2], [1]),
    ({"field": "v", "count": {"min": 1, "max": 2}}, [1], []),
    ({"field": "v", "count": "${1 + 1}"}, [1, 2], [1, 2, 3]),
    ({"field": "v", "length": {"max": 3}}, "abc", "abcd"),
    ({"field": "v", "le": 3}, 3, 4),
    ({"field": "v", "lt": 3}, 2, 3),
    ({"field": "v", "ge": 3}, 3, 2),
    ({"field": "v", "gt": 3}, 4, 3),
    ({"field": "v", "one_of": ["stop", "length"]}, "stop", "done"),
    ({"field": "v", "contains": "b"}, "abc", "xyz"),
    ({"field": "v", "contains": 2}, [1, 2], [1]),
    ({"field": "v", "not_contains": "b"}, "ac", "abc"),
    ({"field": "v", "startswith": "The"}, "The sea", "A sea"),
    ({"field": "v", "prefix_of": "The sea"}, "The", "sea"),
    ({"field": "v", "join_equals": "abc"}, ["a", "bc"], ["a", "b"]),
    ({"field": "v", "all_equal": True}, ["x", "x"], ["x", "y"]),
    ({"field": "v", "is_json": True}, '{"a": 1}', "{a"),
    ({"field": "v", "validates": "Model"}, {"id": "m", "object": "model", "created": 1, "owned_by": "o"}, {"id": "m"}),
    ({"field": "v", "json_schema": {"type": "object", "required": ["a"]}}, '{"a": 1}', '{"b": 1}'),
    ({"field": "v", "each": {"le": 0}}, [-1, 0], [-1, 1]),
    ({"value": "${v}", "equals": 1}, 1, 2),
    ({"that": "${v == 1}"}, 1, 2),
    ({"header": "x-h", "equals": "1"}, "1", "2"),
    ({"status": "2xx"}, 204, 404),
    ({"status": [400, 422]}, 422, 500),
    ({"json": True}, '{"a": 1}', "not json"),
]


@pytest.mark.parametrize(("spec", "good", "bad"), PREDICATE_CASES, ids=[str(c[0]) for c in PREDICATE_CASES])
def test_every_predicate_can_pass_and_fail(spec: dict, good: object, bad: object) -> None:
    exp = Expectation.model_validate(spec)

    def outcome(value: object) -> bool:
        present = value is not expressions.MissingValue
        view: dict = {"headers": {}, "status": None, "is_json": False, "text": ""}
        if present:
            view.update(v=value, status=value, headers={"x-h": value})
            if isinstance(value, str):
                view.update(text=value, is_json=_is_json(value))
        return judge(exp, view, {"v": value} if present else {}, None).passed

    assert outcome(good) is True
    assert outcome(bad) is False


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
