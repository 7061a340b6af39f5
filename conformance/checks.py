"""Judge one expectation against one step's answer, producing a CheckOutcome with what was seen.

Every outcome says what was expected in words a provider can act on and, when it failed, what came
back instead; the failure kind (schema / protocol / behaviour) decides the matrix cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from conformance import expressions, openapi, shapes, strict_json
from conformance.cases import Expectation, Range
from conformance.results import CheckOutcome, FailureKind
from conformance.shapes import json_type
from conformance.sse import FRAMING_CHECKS, WIRE_CHECKS, ParsedStream

_MISSING = object()
UNEVALUATED = "could not evaluate"  # how a failed check begins when its expression has no value
_DEFAULT_KIND = {
    "status": FailureKind.PROTOCOL,
    "header": FailureKind.PROTOCOL,
    "sse": FailureKind.PROTOCOL,
    "json": FailureKind.PROTOCOL,
    "schema": FailureKind.SCHEMA,
}


def short(value: Any, limit: int = 160) -> str:
    if isinstance(value, Range):
        value = value.model_dump(exclude_none=True)
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def judge(
    exp: Expectation,
    view: Mapping[str, Any],
    names: Mapping[str, Any],
    stream: ParsedStream | None,
) -> CheckOutcome:
    """`view` is this step's answer (status, headers, body, chunks...); `names` every earlier answer."""
    subject = exp.subject or ""
    kind = exp.kind or _DEFAULT_KIND.get(subject, FailureKind.BEHAVIOUR)
    if exp.kind is None and subject == "sse" and exp.sse in WIRE_CHECKS:
        kind = FailureKind.SCHEMA
    try:
        described, problem = _SUBJECTS[subject](exp, view, names, stream)
    except expressions.ExpressionError as exc:
        described, problem = _describe_subject(exp), f"{UNEVALUATED}: {exc}"
    return CheckOutcome(expectation=exp.why or described, passed=not problem, detail=problem, kind=kind)


# --- subjects ----------------------------------------------------------------------------------------


def _status(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    wanted = exp.status if isinstance(exp.status, list) else [exp.status]
    got = view.get("status")
    ok = any(status_matches(got, w) for w in wanted)
    label = " or ".join(str(w) for w in wanted)
    detail = "" if ok else f"got HTTP {got}: {_error_excerpt(view)}"
    return f"HTTP status is {label}", detail


def status_matches(got: Any, wanted: int | str | None) -> bool:
    if not isinstance(got, int) or wanted is None:
        return False
    if isinstance(wanted, int):
        return got == wanted
    text = str(wanted).strip().lower()
    if re.fullmatch(r"[1-5]xx", text):
        return got // 100 == int(text[0])
    return text.isdigit() and got == int(text)


def _error_excerpt(view: Mapping[str, Any]) -> str:
    body = view.get("body")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return short(body["error"].get("message"), 200)
    return short((view.get("text") or "")[:200], 200)


def _header(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    name = (exp.header or "").lower()
    value = view.get("headers", {}).get(name, _MISSING)
    described, problem = _predicates(exp, value, names, f"header {name}")
    return described, problem


def _schema(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: ParsedStream | None) -> tuple[str, str]:
    schema = exp.schema_ or ""
    if stream is not None:
        described = f"every streamed chunk is a valid {schema}"
        if not stream.chunks:
            return described, "no JSON chunks in the stream"
        for i, chunk in enumerate(stream.chunks):
            errors = openapi.schema_errors(chunk, schema)
            if errors:
                return described, f"chunk {i + 1}: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
        return described, ""
    described = f"the body is a valid {schema}"
    if not view.get("is_json"):
        return described, "the body is not JSON"
    errors = openapi.schema_errors(view.get("body"), schema)
    if errors:
        return described, errors[0] + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
    return described, ""


def _sse(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: ParsedStream | None) -> tuple[str, str]:
    described, check = FRAMING_CHECKS[exp.sse or ""]
    if stream is None:
        return described, f"not an event stream (content-type {view.get('headers', {}).get('content-type')!r})"
    return described, check(stream)


def _json(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    wanted = bool(exp.json_)
    got = bool(view.get("is_json"))
    described = "the body is JSON" if wanted else "the body is not JSON"
    return described, "" if got == wanted else f"body: {short((view.get('text') or '')[:200])}"


def _field(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    path = exp.field or ""
    try:
        value = expressions.resolve(view, path)
    except expressions.MissingValue as exc:
        value = _MissingWithReason(str(exc))
    return _predicates(exp, value, names, path)


def _value(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    source = exp.value or ""
    try:
        value = expressions.render(source, names)
    except expressions.MissingValue as exc:
        value = _MissingWithReason(str(exc))
    return _predicates(exp, value, names, source)


def _that(exp: Expectation, view: Mapping[str, Any], names: Mapping[str, Any], stream: Any) -> tuple[str, str]:
    source = exp.that or ""
    result = expressions.render(source, names)
    return f"{source} holds", "" if result else f"{source} is {short(result)}"


class _MissingWithReason:
    def __init__(self, reason: str) -> None:
        self.reason = reason


_SUBJECTS: dict[str, Callable[..., tuple[str, str]]] = {
    "status": _status,
    "header": _header,
    "schema": _schema,
    "sse": _sse,
    "json": _json,
    "field": _field,
    "value": _value,
    "that": _that,
}


def _describe_subject(exp: Expectation) -> str:
    subject = exp.subject or ""
    target = {"field": exp.field, "value": exp.value, "that": exp.that, "header": exp.header}.get(subject)
    return f"{subject} {target}" if target else subject


# --- predicates --------------------------------------------------------------------------------------


def _predicates(exp: Expectation, value: Any, names: Mapping[str, Any], label: str) -> tuple[str, str]:
    """Apply every predicate of `exp` to `value`; the description lists them, the detail the first failure."""
    parts: list[str] = []
    problem = ""
    for name in exp.predicates:
        raw_arg = getattr(exp, name)
        arg = raw_arg if name == "each" else expressions.render(raw_arg, names)
        parts.append(_phrase(name, raw_arg, arg))
        if problem:
            continue
        problem = _apply(name, value, arg, names)
    return f"{label} " + " and ".join(parts), (f"{label}: {problem}" if problem else "")


def _phrase(name: str, raw_arg: Any, arg: Any) -> str:
    shown = short(arg, 80)
    if isinstance(raw_arg, str) and "${" in raw_arg:
        shown = f"{raw_arg} ({short(arg, 60)})"
    return {
        "exists": "exists" if arg else "is absent",
        "all_equal": "are all equal",
        "is_json": "is a JSON document",
        "json_schema": "validates against the given JSON Schema",
        "each": "each element satisfies the nested check",
        "offsets_of": "are the start offsets of the given strings laid end to end",
        "shape": "has the recorded fields and JSON types (extra fields ignored)",
        "all_in": f"are all among the recorded {shown}",
        "in_order": f"holds the recorded sequence {shown} in order (repeats collapsed, others may come between)",
    }.get(name, f"{name.replace('_', ' ')} {shown}")


def _apply(name: str, value: Any, arg: Any, names: Mapping[str, Any]) -> str:
    if isinstance(value, _MissingWithReason):
        if name == "exists" and arg is False:
            return ""
        return value.reason
    if name == "exists":  # `exists: false` holds for null too: "tool_calls": null is no tool call
        return "" if arg or value is None else f"is present: {short(value)}"
    return _PREDICATES[name](value, arg, names)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _got(value: Any) -> str:
    return f"got {short(value)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: Callable[[Any, Any], bool], symbol: str) -> Callable[[Any, Any, Any], str]:
    def check(value: Any, arg: Any, names: Any) -> str:
        if not _is_number(value):
            return f"is not a number: {short(value)}"
        if not _is_number(arg):
            return f"cannot compare with {short(arg)}"
        return "" if op(value, arg) else f"{short(value)} is not {symbol} {short(arg)}"

    return check


def _in_range(n: int, arg: Any) -> bool:
    if isinstance(arg, Range):
        return (arg.min is None or n >= arg.min) and (arg.max is None or n <= arg.max)
    if isinstance(arg, dict):
        return (arg.get("min") is None or n >= arg["min"]) and (arg.get("max") is None or n <= arg["max"])
    return n == arg


def _count(value: Any, arg: Any, names: Any) -> str:
    if not isinstance(value, list | dict):
        return f"is neither a list nor an object: {short(value)}"
    return "" if _in_range(len(value), arg) else f"has {len(value)} {'items' if isinstance(value, list) else 'keys'}"


def _length(value: Any, arg: Any, names: Any) -> str:
    if not isinstance(value, str):
        return f"is not a string: {short(value)}"
    return "" if _in_range(len(value), arg) else f"has length {len(value)}: {short(value)}"


def _type(value: Any, arg: Any, names: Any) -> str:
    wanted = [arg] if isinstance(arg, str) else list(arg)
    actual = json_type(value)
    ok = actual in wanted or (actual == "integer" and "number" in wanted)
    return "" if ok else f"is of type {actual}: {short(value)}"


def _matches(value: Any, arg: Any, names: Any, negate: bool = False) -> str:
    if not isinstance(value, str):
        return f"is not a string: {short(value)}"
    found = re.search(str(arg), value) is not None
    return "" if found != negate else _got(value)


def _contains(value: Any, arg: Any, names: Any, negate: bool = False) -> str:
    if isinstance(value, str):
        found = str(arg) in value
    elif isinstance(value, list):
        found = any(_eq(item, arg) for item in value)
    else:
        return f"is neither a string nor a list: {short(value)}"
    return "" if found != negate else _got(value)


def _join_equals(value: Any, arg: Any, names: Any) -> str:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"is not a list of strings: {short(value)}"
    joined = "".join(value)
    return "" if joined == arg else f"joins to {short(joined)}, not {short(arg)}"


def _all_equal(value: Any, arg: Any, names: Any) -> str:
    if not isinstance(value, list) or not value:
        return f"is not a non-empty list: {short(value)}"
    distinct = {json.dumps(v, sort_keys=True, default=str) for v in value}
    return "" if (len(distinct) == 1) == bool(arg) else f"{len(distinct)} distinct values: {short(sorted(distinct))}"


def _is_json(value: Any, arg: Any, names: Any) -> str:
    if not isinstance(value, str):
        return f"is not a string: {short(value)}"
    try:
        strict_json.loads(value)
    except ValueError as exc:
        return "" if not arg else f"does not parse ({exc}): {short(value)}"
    return "" if arg else f"parses as JSON: {short(value)}"


def _validates(value: Any, arg: Any, names: Any) -> str:
    errors = openapi.schema_errors(value, str(arg))
    return errors[0] if errors else ""


def _json_schema(value: Any, arg: Any, names: Any) -> str:
    """Structured output: the value (a JSON string or an object) validates against an inline schema."""
    if isinstance(value, str):
        try:
            value = strict_json.loads(value)
        except ValueError as exc:
            return f"is not JSON ({exc}): {short(value)}"
    if not isinstance(arg, dict):
        return f"the schema is not an object: {short(arg)}"
    try:
        Draft202012Validator.check_schema(arg)
    except SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    error = best_match(Draft202012Validator(arg).iter_errors(value))
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    return f"{where}: {error.message}"


def _offsets_of(value: Any, arg: Any, names: Any) -> str:
    """Legacy logprobs' `text_offset`: each token starts where the one before it ends."""
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        return f"is not a list of numbers: {short(value)}"
    if not isinstance(arg, list) or not all(isinstance(t, str) for t in arg):
        return f"cannot lay out {short(arg)}: not a list of strings"
    if len(value) != len(arg):
        return f"has {len(value)} offsets for {len(arg)} strings"
    for i in range(1, len(value)):
        expected = value[i - 1] + len(arg[i - 1])
        if value[i] != expected:
            return f"[{i}] is {value[i]}, but {short(arg[i - 1])} starts at {value[i - 1]} and so ends at {expected}"
    return ""


def _each(value: Any, arg: Any, names: Mapping[str, Any]) -> str:
    if not isinstance(value, list):
        return f"is not a list: {short(value)}"
    nested: Expectation = arg
    for i, item in enumerate(value):
        for name in nested.predicates:
            problem = _apply(name, item, expressions.render(getattr(nested, name), names), names)
            if problem:
                return f"[{i}] {problem}"
    return ""


_PREDICATES: dict[str, Callable[[Any, Any, Any], str]] = {
    "equals": lambda v, a, n: "" if _eq(v, a) else _got(v),
    "not_equals": lambda v, a, n: "" if not _eq(v, a) else f"is {short(v)} all the same",
    "matches": _matches,
    "not_matches": lambda v, a, n: _matches(v, a, n, negate=True),
    "type": _type,
    "count": _count,
    "length": _length,
    "le": _compare(lambda a, b: a <= b, "<="),
    "lt": _compare(lambda a, b: a < b, "<"),
    "ge": _compare(lambda a, b: a >= b, ">="),
    "gt": _compare(lambda a, b: a > b, ">"),
    "one_of": lambda v, a, n: "" if any(_eq(v, x) for x in a) else _got(v),
    "contains": _contains,
    "not_contains": lambda v, a, n: _contains(v, a, n, negate=True),
    "startswith": lambda v, a, n: "" if isinstance(v, str) and v.startswith(str(a)) else _got(v),
    "prefix_of": lambda v, a, n: "" if isinstance(v, str) and str(a).startswith(v) else _got(v),
    "join_equals": _join_equals,
    "all_equal": _all_equal,
    "is_json": _is_json,
    "validates": _validates,
    "json_schema": _json_schema,
    "each": _each,
    "offsets_of": _offsets_of,
    "shape": shapes.shape_predicate,  # recorded calls (conformance record): see conformance.shapes
    "all_in": shapes.all_in_predicate,
    "in_order": shapes.in_order_predicate,
}
