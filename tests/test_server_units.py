"""The reference server's pure parts, without a model: stop-string streaming, error `param` paths, CLI checks."""

from __future__ import annotations

import pytest

from reference_server.errors import param_path, validation_error
from reference_server.schemas import ChatCompletionRequest
from reference_server.text_stream import TextStream


def _run(pieces: list[bytes], stop: list[str]) -> tuple[list[str], list[int], bool]:
    stream: TextStream[int] = TextStream(stop)
    texts: list[str] = []
    payloads: list[int] = []
    for i, piece in enumerate(pieces):
        release = stream.push(piece, i)
        texts.append(release.text)
        payloads += release.payloads
    tail = stream.finish()
    texts.append(tail.text)
    payloads += tail.payloads
    return texts, payloads, stream.stopped


def test_text_without_stops_is_released_token_by_token() -> None:
    texts, payloads, stopped = _run([b"Hello", b" world", b"!"], [])
    assert texts == ["Hello", " world", "!", ""]
    assert payloads == [0, 1, 2]
    assert not stopped


def test_stop_string_spanning_tokens_is_cut_and_never_released() -> None:
    texts, payloads, stopped = _run([b"Hello", b" wo", b"rld", b" again"], [" world"])
    assert "".join(texts) == "Hello"
    assert stopped
    # " wo" started at the stop's first character: its text is never shown, so neither is its logprob.
    assert payloads == [0]


def test_partial_stop_prefix_is_held_back_then_released_when_it_diverges() -> None:
    texts, _, stopped = _run([b"a", b"b", b"x"], ["bc"])
    assert texts[:3] == ["a", "", "bx"]
    assert not stopped


def test_stop_inside_one_token_keeps_text_before_it() -> None:
    texts, payloads, stopped = _run([b"one. two"], ["."])
    assert "".join(texts) == "one"
    assert payloads == [0]
    assert stopped


def test_earliest_of_several_stops_wins() -> None:
    texts, _, _ = _run([b"abc", b"def"], ["e", "c"])
    assert "".join(texts) == "ab"


def test_utf8_split_across_tokens_is_decoded_whole() -> None:
    snowman = "☃".encode()
    texts, payloads, _ = _run([snowman[:1], snowman[1:], b"!"], [])
    assert texts == ["", "☃", "!", ""]
    assert payloads == [0, 1, 2]


def test_param_path_skips_union_labels_and_tags() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text"}]}]}
    loc = ("body", "messages", 0, "user", "content", "list[...]", 0, "text", "text")
    assert param_path(loc, body) == "messages[0].content[0].text"


def test_param_path_tells_a_tag_from_a_key_of_the_same_name() -> None:
    """The text part's tag `text` is also its key: the error is in the breakpoint, not in the text."""
    part = {"type": "text", "text": "Hi", "prompt_cache_breakpoint": {"mode": 1}}
    body = {"messages": [{"role": "user", "content": [part]}]}
    at = ("messages", 0, "user", "content", "list[...]", 0, "text")
    assert param_path((*at, "prompt_cache_breakpoint"), body) == "messages[0].content[0].prompt_cache_breakpoint"
    assert param_path((*at, "prompt_cache_breakpoint", "mode"), body) == "messages[0].content[0].prompt_cache_breakpoint.mode"
    assert param_path((*at, "text"), body) == "messages[0].content[0].text"
    assert param_path((*at, "text"), {"messages": [{"content": [{"type": "text"}]}]}) == "messages[0].content[0].text"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": []}, "messages", "empty_array"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "messages[0].content", "invalid_type"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
            "missing_required_parameter",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature", "decimal_above_max_value"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}, "n", "integer_below_min_value"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "stop", "array_above_max_length"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "bogus": 1}, "bogus", "unknown_parameter"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 101}}, "logit_bias.1", "decimal_above_max_value"),
    ],
)
def test_validation_errors_name_the_field(body: dict, param: str, code: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        ChatCompletionRequest.model_validate(body)
    err = validation_error(info.value.errors(), body)
    assert (err.status_code, err.param, err.code) == (400, param, code), err.message
