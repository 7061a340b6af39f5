"""Every embeddings check must be able to fail: the real server's answers, altered to break one rule each.

The same table-driven design as test_mutations.py (one row per mutation: what the proxy does, which
cases to run, the verdict and cell each flagged case must get; every other case must still pass), on
the same mutating proxy. The vector helpers the cases use (`norm`, `cosine`, `b64floats`) are shown
to pass and fail first, like the predicates in test_harness_cases.py.
"""

from __future__ import annotations

import base64
import copy
import random
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mutating_proxy import Ctx, Mutation, RunningProxy, error
from mutation_support import BROKEN, IGNORED, REJECTED, SCHEMA, Row, assert_only_flagged, proxy_fixture

from conformance import expressions
from conformance.api import RunConfig, list_cases, run_suite
from conformance.cases import Expectation
from conformance.checks import judge
from conformance.paths import default_cases_dir
from conformance.results import Verdict

# --- the vector helpers pass and fail ---------------------------------------------------------------

B64_ONE_TWO = base64.b64encode(struct.pack("<2f", 1.0, 2.0)).decode()
HELPER_CASES = [
    ({"value": "${norm(v)}", "ge": 0.999, "le": 1.001}, [0.6, 0.8], [1.2, 1.6]),
    ({"value": "${norm(v)}", "ge": 0.999}, [1.0], ["x"]),  # not numbers: cannot be judged
    ({"value": "${norms(v)}", "each": {"ge": 0.999, "le": 1.001}}, [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]),
    ({"value": "${cosine(v[0], v[1])}", "ge": 0.999}, [[1.0, 2.0], [2.0, 4.0]], [[1.0, 2.0], [2.0, -4.0]]),
    ({"value": "${cosine(v[0], v[1])}", "lt": 0.999}, [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [3.0, 0.0]]),
    ({"value": "${cosine(v[0], v[1])}", "ge": 0.0}, [[1.0], [1.0]], [[1.0], [1.0, 2.0]]),  # lengths differ
    ({"value": "${cosine(v[0], v[1])}", "ge": 0.0}, [[1.0], [1.0]], [[1.0], [0.0]]),  # no direction
    ({"value": "${b64floats(v)}", "equals": [1.0, 2.0]}, B64_ONE_TWO, base64.b64encode(struct.pack(">2f", 1.0, 2.0)).decode()),
    ({"value": "${len(b64floats(v))}", "equals": 2}, B64_ONE_TWO, "AAAA!!"),  # not base64
    ({"value": "${len(b64floats(v))}", "equals": 2}, B64_ONE_TWO, base64.b64encode(b"abcdef").decode()),  # 6 bytes
]


@pytest.mark.parametrize(("spec", "good", "bad"), HELPER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(HELPER_CASES)])
def test_vector_helpers_can_pass_and_fail(spec: dict[str, Any], good: object, bad: object) -> None:
    exp = Expectation.model_validate(spec)
    view: dict[str, Any] = {"headers": {}, "status": 200, "is_json": True, "text": ""}
    assert judge(exp, view, {"v": good}, None).passed is True
    assert judge(exp, view, {"v": bad}, None).passed is False


def test_vector_helpers_compute() -> None:
    names = {"a": [3, 4], "b": [6.0, 8.0]}
    assert expressions.render("${norm(a)}", names) == 5.0
    assert expressions.render("${cosine(a, b)}", names) == pytest.approx(1.0)
    assert expressions.render("${norms([a, b])}", names) == [5.0, 10.0]
    assert expressions.render("${b64floats(s)}", {"s": B64_ONE_TWO}) == [1.0, 2.0]
    with pytest.raises(expressions.ExpressionError, match="different lengths"):
        expressions.render("${cosine(a, [1])}", names)


# --- mutations of real answers --------------------------------------------------------------------

FOX = "The quick brown fox jumps over the lazy dog."
SERVED_MODEL: dict[str, str] = {}


def embeddings(ctx: Ctx) -> bool:
    return ctx.method == "POST" and ctx.path == "/embeddings"


def when(**params: Any) -> Callable[[Ctx], bool]:
    """An embeddings request whose params have these values (`...`: present with any value)."""
    return lambda ctx: embeddings(ctx) and all(
        (k in (ctx.json or {})) if v is ... else ctx.param(k, _ABSENT) == v for k, v in params.items()
    )


_ABSENT = object()


def input_kind(kind: str) -> Callable[[Ctx], bool]:
    def test(ctx: Ctx) -> bool:
        value = ctx.param("input")
        if not embeddings(ctx) or not isinstance(value, list) or not value:
            return False
        return {"ids": isinstance(value[0], int), "id_lists": isinstance(value[0], list), "texts": isinstance(value[0], str)}[kind]

    return test


def body(fn: Callable[[dict[str, Any], Ctx], None], test: Callable[[Ctx], bool], statuses: tuple[int, ...] = (200,)) -> Mutation:
    def apply(b: Any, ctx: Ctx) -> Any:
        b = copy.deepcopy(b)
        fn(b, ctx)
        return b

    return Mutation(when=test, body=apply, statuses=statuses)


def request(fn: Callable[[dict[str, Any]], dict[str, Any]], test: Callable[[Ctx], bool]) -> Mutation:
    return Mutation(when=test, request=fn)


def without(*params: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda j: {k: v for k, v in j.items() if k not in params}


def vectors(fn: Callable[[list[float]], list[float]]) -> Callable[[dict[str, Any], Ctx], None]:
    """Rewrite every float vector of the answer."""

    def apply(b: dict[str, Any], ctx: Ctx) -> None:
        for item in b["data"]:
            item["embedding"] = fn(item["embedding"])

    return apply


def base64_vectors(pack: Callable[[list[float]], bytes]) -> Callable[[dict[str, Any], Ctx], None]:
    """Re-encode every base64 vector of the answer with `pack`."""

    def apply(b: dict[str, Any], ctx: Ctx) -> None:
        for item in b["data"]:
            raw = base64.b64decode(item["embedding"])
            floats = list(struct.unpack(f"<{len(raw) // 4}f", raw))
            item["embedding"] = base64.b64encode(pack(floats)).decode()

    return apply


def unit(v: list[float]) -> list[float]:
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def set_error_param(value: Any) -> Callable[[dict[str, Any], Ctx], None]:
    return lambda b, ctx: b["error"].update(param=value)


def reorder(b: dict[str, Any], ctx: Ctx) -> None:
    """The vectors come back in reverse, each still labelled with its position."""
    embeddings_ = [item["embedding"] for item in b["data"]][::-1]
    for item, vector in zip(b["data"], embeddings_, strict=True):
        item["embedding"] = vector


def refuse(test: Callable[[Ctx], bool], param: str) -> Mutation:
    envelope = {"error": {"message": f"'{param}' is not supported", "type": "invalid_request_error", "param": param, "code": None}}
    return Mutation(when=test, respond=error(400, envelope))


def served_model(j: dict[str, Any]) -> dict[str, Any]:
    return {**j, "model": SERVED_MODEL["id"]}


FAKE_ANSWER = {
    "object": "list",
    "model": "m",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
    "usage": {"prompt_tokens": 0, "total_tokens": 0},
}


def three_texts(ctx: Ctx) -> bool:
    return input_kind("texts")(ctx) and len(ctx.param("input")) == 3


R = Row
TRIPLE = three_texts
BASIC = when(input="The cat sat on the mat.")
PAIR = when(input=[FOX, "Quarterly revenue rose by four percent in Norway."], encoding_format="float")
USAGE_PAIR = when(input=[FOX, "def main(): return sorted(items)[0]"])
BASE64 = when(encoding_format="base64")
ROWS = [
    # the answer's shape
    R("item_object_missing", body(lambda b, c: b["data"][0].pop("object"), BASIC), ["embeddings.basic", "embeddings.unit_length"], {"embeddings.basic": SCHEMA}),
    R("index_wrong", body(lambda b, c: b["data"][0].update(index=1), BASIC), ["embeddings.basic"], {"embeddings.basic": IGNORED}),
    R("data_duplicated", body(lambda b, c: b["data"].append({**b["data"][0], "index": 1}), BASIC), ["embeddings.basic"], {"embeddings.basic": IGNORED}),
    R("model_missing", body(lambda b, c: b.pop("model"), BASIC), ["embeddings.basic"], {"embeddings.basic": SCHEMA}),
    R("answer_as_text_plain", Mutation(when=BASIC, content_type="text/plain"), ["embeddings.basic"], {"embeddings.basic": IGNORED}),
    R("vectors_not_unit_length", body(vectors(lambda v: [2 * x for x in v]), PAIR), ["embeddings.unit_length", "embeddings.basic"], {"embeddings.unit_length": IGNORED}),
    # input forms
    R("list_reordered", body(reorder, TRIPLE), ["embeddings.input.list", "embeddings.basic"], {"embeddings.input.list": IGNORED}),
    R("list_same_index", body(lambda b, c: [i.update(index=0) for i in b["data"]] and None, TRIPLE), ["embeddings.input.list"], {"embeddings.input.list": IGNORED}),
    R("list_first_only", body(lambda b, c: b.update(data=b["data"][:1]), TRIPLE), ["embeddings.input.list"], {"embeddings.input.list": IGNORED}),
    R("token_ids_ignored", request(lambda j: {**j, "input": "hello"}, input_kind("ids")), ["embeddings.input.tokens", "embeddings.basic"], {"embeddings.input.tokens": IGNORED}),
    R("token_vectors_short", body(vectors(lambda v: unit(v[: len(v) // 2])), input_kind("ids")), ["embeddings.input.tokens", "embeddings.basic"], {"embeddings.input.tokens": IGNORED}),
    R("token_vectors_random", body(vectors(lambda v: unit([random.gauss(0, 1) for _ in v])), input_kind("ids")), ["embeddings.input.tokens"], {"embeddings.input.tokens": IGNORED}),
    R("token_ids_refused", refuse(input_kind("ids"), "input"), ["embeddings.input.tokens", "embeddings.input.list"], {"embeddings.input.tokens": REJECTED}),
    R("token_lists_reordered", body(reorder, input_kind("id_lists")), ["embeddings.input.token_lists", "embeddings.input.tokens"], {"embeddings.input.token_lists": IGNORED}),
    # encoding_format
    R("base64_ignored", request(without("encoding_format"), BASE64), ["embeddings.encoding_format.*"], {"embeddings.encoding_format.base64": IGNORED}),
    R("base64_big_endian", body(base64_vectors(lambda f: struct.pack(f">{len(f)}f", *f)), BASE64), ["embeddings.encoding_format.*"], {"embeddings.encoding_format.base64": IGNORED}),
    R("base64_float64", body(base64_vectors(lambda f: struct.pack(f"<{len(f)}d", *f)), BASE64), ["embeddings.encoding_format.base64"], {"embeddings.encoding_format.base64": IGNORED}),
    R("base64_not_unit_length", body(base64_vectors(lambda f: struct.pack(f"<{len(f)}f", *(2 * x for x in f))), BASE64), ["embeddings.encoding_format.base64"], {"embeddings.encoding_format.base64": IGNORED}),
    R("base64_refused", refuse(BASE64, "encoding_format"), ["embeddings.encoding_format.*"], {"embeddings.encoding_format.base64": REJECTED}),
    R("default_is_other_vector", body(vectors(lambda v: unit([random.gauss(0, 1) for _ in v])), lambda c: embeddings(c) and "encoding_format" not in (c.json or {})), ["embeddings.encoding_format.default_float"], {"embeddings.encoding_format.default_float": IGNORED}),
    R("default_is_base64", request(lambda j: {**j, "encoding_format": "base64"}, lambda c: embeddings(c) and "encoding_format" not in (c.json or {})), ["embeddings.encoding_format.*"], {"embeddings.encoding_format.default_float": SCHEMA}),
    # dimensions
    R("dimensions_ignored", request(without("dimensions"), when(dimensions=32)), ["embeddings.dimensions.*"], {"embeddings.dimensions.shorter": IGNORED}),
    R("dimensions_not_renormalised", Mutation(when=when(dimensions=32), request=without("dimensions"), body=lambda b, c: vectors(lambda v: v[:32])(b, c) or b), ["embeddings.dimensions.shorter"], {"embeddings.dimensions.shorter": IGNORED}),
    R("dimensions_last_components", Mutation(when=when(dimensions=32), request=without("dimensions"), body=lambda b, c: vectors(lambda v: unit(v[-32:]))(b, c) or b), ["embeddings.dimensions.shorter"], {"embeddings.dimensions.shorter": IGNORED}),
    R("dimensions_refused", refuse(when(dimensions=32), "dimensions"), ["embeddings.dimensions.shorter"], {"embeddings.dimensions.shorter": REJECTED}),
    R("dimensions_too_many_clamped", request(without("dimensions"), lambda c: when(dimensions=...)(c) and c.param("dimensions") != 32), ["embeddings.dimensions.*"], {"embeddings.dimensions.too_many": IGNORED}),
    R("dimensions_error_unnamed", body(set_error_param(None), when(dimensions=...), statuses=(400,)), ["embeddings.dimensions.too_many"], {"embeddings.dimensions.too_many": IGNORED}),
    # usage
    R("usage_off_by_one", body(lambda b, c: b["usage"].update(prompt_tokens=b["usage"]["prompt_tokens"] + 1, total_tokens=b["usage"]["total_tokens"] + 1), USAGE_PAIR), ["embeddings.usage", "embeddings.basic"], {"embeddings.usage": IGNORED}),
    R("usage_total_differs", body(lambda b, c: b["usage"].update(total_tokens=b["usage"]["total_tokens"] + 5), USAGE_PAIR), ["embeddings.usage"], {"embeddings.usage": IGNORED}),
    R("usage_zero", body(lambda b, c: b["usage"].update(prompt_tokens=0, total_tokens=0), embeddings), ["embeddings.usage"], {"embeddings.usage": IGNORED}),
    R("usage_missing", body(lambda b, c: b.pop("usage"), USAGE_PAIR), ["embeddings.usage"], {"embeddings.usage": SCHEMA}),
    # errors
    R("empty_string_embedded", Mutation(when=when(input=""), respond=error(200, FAKE_ANSWER)), ["embeddings.errors.*"], {"embeddings.errors.empty_string": IGNORED}),
    R("empty_string_fastapi_422", Mutation(when=when(input=""), respond=error(422, {"detail": [{"msg": "too short"}]})), ["embeddings.errors.empty_string"], {"embeddings.errors.empty_string": IGNORED}),
    R("empty_string_error_as_text", Mutation(when=when(input=""), content_type="text/plain"), ["embeddings.errors.empty_string"], {"embeddings.errors.empty_string": IGNORED}),
    R("empty_list_unnamed", body(set_error_param(None), when(input=[]), statuses=(400,)), ["embeddings.errors.empty_*"], {"embeddings.errors.empty_list": IGNORED}),
    R("empty_token_list_dropped", request(lambda j: {**j, "input": [x for x in j["input"] if x]}, input_kind("id_lists")), ["embeddings.errors.empty_token_list", "embeddings.errors.empty_list"], {"embeddings.errors.empty_token_list": IGNORED}),
    R("too_long_truncated", request(lambda j: {**j, "input": j["input"][:200]}, lambda c: embeddings(c) and len(str(c.param("input"))) > 100_000), ["embeddings.errors.too_long", "embeddings.basic"], {"embeddings.errors.too_long": IGNORED}),
    R("too_long_500", Mutation(when=lambda c: embeddings(c) and len(str(c.param("input"))) > 100_000, respond=error(500, "Internal Server Error", "text/plain")), ["embeddings.errors.too_long"], {"embeddings.errors.too_long": BROKEN}),
    R("unknown_encoding_ignored", request(without("encoding_format"), when(encoding_format="hex")), ["embeddings.errors.encoding_format"], {"embeddings.errors.encoding_format": IGNORED}),
    R("encoding_error_unnamed", body(set_error_param("input"), when(encoding_format="hex"), statuses=(400,)), ["embeddings.errors.encoding_format"], {"embeddings.errors.encoding_format": IGNORED}),
    R("unknown_model_served", request(served_model, lambda c: embeddings(c) and "no-such-model" in str(c.param("model"))), ["embeddings.errors.unknown_model", "embeddings.basic"], {"embeddings.errors.unknown_model": IGNORED}),
    R("unknown_model_no_code", body(lambda b, c: b["error"].update(code=None), lambda c: embeddings(c) and "no-such-model" in str(c.param("model")), statuses=(404,)), ["embeddings.errors.unknown_model"], {"embeddings.errors.unknown_model": IGNORED}),
    R("unknown_model_fastapi_404", Mutation(when=lambda c: embeddings(c) and "no-such-model" in str(c.param("model")), respond=error(404, {"detail": "Not Found"})), ["embeddings.errors.unknown_model"], {"embeddings.errors.unknown_model": SCHEMA}),
]


proxy = proxy_fixture(ROWS, SERVED_MODEL)


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the embeddings file: loading and vetting every case file would cost each run 2 s."""
    directory = tmp_path_factory.mktemp("cases")
    shutil.copy(default_cases_dir() / "embeddings.yaml", directory)
    return directory


def test_table_names_are_unique() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)


def test_unmutated_proxy_passes_every_embeddings_case(proxy: RunningProxy, cases_dir: Path) -> None:
    results = run_suite(RunConfig(base_url=proxy.base_url("none"), cases_dir=cases_dir, concurrency=4))
    assert results.cases and all(c.verdict is Verdict.PASS for c in results.cases), [
        (c.case_id, c.reason) for c in results.cases if c.verdict is not Verdict.PASS
    ]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_mutation_is_flagged(proxy: RunningProxy, cases_dir: Path, row: Row) -> None:
    config = RunConfig(base_url=proxy.base_url(row.name), cases_dir=cases_dir, only=row.only, timeout=60, concurrency=4)
    results = run_suite(config)
    assert_only_flagged(results, row)


def test_every_embeddings_case_has_a_mutation_and_the_issue_rows_exist() -> None:
    cases = list_cases(only=["embeddings.*"])
    assert {c.row for c in cases} >= {
        "embeddings/input", "embeddings/input.list", "embeddings/input.tokens", "embeddings/input.token_lists",
        "embeddings/encoding_format", "embeddings/dimensions", "embeddings/normalization", "embeddings/usage",
        "embeddings/errors.empty_input",
    }  # fmt: skip
    flagged = {case_id for row in ROWS for case_id in row.flagged}
    assert {c.id for c in cases} - flagged == set()
