"""Shapes: the JSON-type skeleton of an answer, compared structurally with another answer.

A recorded call (`conformance record`) keeps what an application relied on, not the values that
naturally vary from one answer to the next (ids, timestamps, generated text, token counts). The
skeleton is that: which fields were there and of what JSON type. Replaying the call elsewhere then
asks "is everything the application saw still there, with the same types?", ignoring extra fields.

Notation (compact, so a cassette stays readable YAML):
- a leaf is a type name: string, integer, number, boolean, null, object, array, or `json` (a string
  holding a JSON object or array, e.g. tool-call arguments), or a union of them: "string|null";
- a mapping is an object that has every one of those keys (other keys are ignored);
- `[]` is any array; `[X]` a non-empty array whose every element has shape X; `[X, "may be empty"]`
  the same but possibly empty (when some recorded instances were empty).

A leaf recorded as plain `null` accepts anything: the application only ever saw null there, so a
value cannot be a difference it relies on. The other way round (null where a type was recorded) is
reported, because that is what breaks `answer.field.method()`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from conformance import strict_json

MAY_BE_EMPTY = "may be empty"
LEAF_TYPES = ("string", "json", "integer", "number", "boolean", "object", "array", "null")
_INDEX = re.compile(r"\[\d+\]")
_MAX_REPORTED = 6


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value (bool is not an integer here)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- extraction ------------------------------------------------------------------------------------


def skeleton(value: Any, json_keys: Iterable[str] = ("arguments",), key: str | None = None) -> Any:
    """The shape of one value. Strings under a key in `json_keys` that hold a JSON object/array are `json`."""
    keys = frozenset(json_keys)
    if isinstance(value, dict):
        return {str(k): skeleton(v, keys, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return merge_all(skeleton(item, keys, key) for item in value) if value else []
    if isinstance(value, str) and key in keys and _holds_json(value):
        return "json"
    return json_type(value)


def _holds_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        strict_json.loads(stripped)
    except ValueError:
        return False
    return True


def merge_all(shapes: Iterable[Any]) -> Any:
    """The shape every one of several values has: common keys only, types joined.

    Used for the elements of one array, and for the chunks of a stream.
    """
    merged: Any = _NOTHING
    for shape in shapes:
        merged = shape if merged is _NOTHING else merge(merged, shape)
    return [] if merged is _NOTHING else [merged]


_NOTHING = object()


def merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: merge(a[k], b[k]) for k in a if k in b}
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            element = (a or b)[0] if (a or b) else None
            return [element, MAY_BE_EMPTY] if element is not None else []
        element = merge(a[0], b[0])
        optional = len(a) > 1 or len(b) > 1
        return [element, MAY_BE_EMPTY] if optional else [element]
    return _join_leaves(_leaves(a) | _leaves(b))


def _leaves(shape: Any) -> set[str]:
    if isinstance(shape, dict):
        return {"object"}
    if isinstance(shape, list):
        return {"array"}
    return set(str(shape).split("|"))


def _join_leaves(types: set[str]) -> str:
    if "string" in types:
        types.discard("json")
    if "number" in types:
        types.discard("integer")
    return "|".join(t for t in LEAF_TYPES if t in types)


# --- validation of a written skeleton -----------------------------------------------------------------


def problem(shape: Any, where: str = "") -> str:
    """Why `shape` is not a skeleton in the notation above, or "" when it is (checked when a case loads)."""
    if isinstance(shape, dict):
        return next((p for k, v in shape.items() if (p := problem(v, f"{where}.{k}"))), "")
    if isinstance(shape, list):
        if (len(shape) == 2 and shape[1] == MAY_BE_EMPTY) or len(shape) == 1:
            return problem(shape[0], f"{where}[]")
        if not shape:
            return ""
        return f"shape{where}: an array shape is [], [X] or [X, {MAY_BE_EMPTY!r}]"
    if isinstance(shape, str):
        bad = [t for t in shape.split("|") if t not in LEAF_TYPES]
        if not bad:
            return ""
        return f"shape{where}: unknown type {bad[0]!r} (use {', '.join(LEAF_TYPES)})"
    return f"shape{where}: {_show(shape)} is neither a type name, a mapping nor a list"


# --- comparison --------------------------------------------------------------------------------------


def differences(recorded: Any, actual: Any, path: str = "") -> list[str]:
    """Every way `actual` lacks the recorded shape: missing fields, other types, empty arrays."""
    return list(_differences(recorded, actual, path))


def _differences(recorded: Any, actual: Any, path: str) -> Iterator[str]:
    where = path or "the value"
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            yield f"{where} is {_describe(actual)}, recorded an object"
            return
        for key, shape in recorded.items():
            child = f"{path}.{key}" if path else key
            if key not in actual:
                yield f"{child} is missing (recorded {_name(shape)})"
            else:
                yield from _differences(shape, actual[key], child)
        return
    if isinstance(recorded, list):
        if not isinstance(actual, list):
            yield f"{where} is {_describe(actual)}, recorded an array"
            return
        if not recorded:
            return
        if not actual and len(recorded) == 1:
            yield f"{where} is an empty array, recorded a non-empty one"
        for i, item in enumerate(actual):
            yield from _differences(recorded[0], item, f"{path}[{i}]")
        return
    allowed = set(str(recorded).split("|"))
    if allowed == {"null"} or _leaf_fits(allowed, actual):
        return
    yield f"{where} is {_describe(actual)}, recorded {_name(recorded)}"


def _leaf_fits(allowed: set[str], actual: Any) -> bool:
    kind = json_type(actual)
    if kind in allowed or (kind == "integer" and "number" in allowed):
        return True
    return kind == "string" and "json" in allowed and _holds_json(actual)


def _describe(value: Any) -> str:
    kind = json_type(value)
    if kind == "null":
        return "null"
    if kind == "string" and value.strip().startswith(("{", "[")):
        return f"a string that is not JSON: {_show(value, 60)}"
    if kind in ("object", "array"):
        return f"an {kind}"
    return f"{'an' if kind == 'integer' else 'a'} {kind} {_show(value, 60)}"


def _name(shape: Any) -> str:
    if isinstance(shape, dict):
        return "an object"
    if isinstance(shape, list):
        return "an array"
    return "a JSON string" if shape == "json" else str(shape)


def summarize(found: list[str]) -> str:
    """One line for a report: the same difference in many array elements is listed once, with a count."""
    groups: dict[str, list[str]] = {}
    for line in found:
        groups.setdefault(_INDEX.sub("[*]", line), []).append(line)
    parts = []
    for lines in groups.values():
        more = f" (and {len(lines) - 1} more like it)" if len(lines) > 1 else ""
        parts.append(lines[0] + more)
    shown = "; ".join(parts[:_MAX_REPORTED])
    return shown + (f"; +{len(parts) - _MAX_REPORTED} more differences" if len(parts) > _MAX_REPORTED else "")


# --- pinned values --------------------------------------------------------------------------------------


def pinned_paths(shape: Any, keys: Iterable[str], prefix: str) -> list[str]:
    """Field paths (with [*] over arrays) to every key named in `keys` that every recorded element has."""
    wanted = frozenset(keys)
    out: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}"
                if key in wanted and not isinstance(child, dict | list):
                    out.append(child_path)
                walk(child, child_path)
        elif isinstance(node, list) and node:
            walk(node[0], f"{path}[*]")

    walk(shape, prefix)
    return out


def flatten(value: Any) -> list[Any]:
    """The values a `[*]` path yields, nested lists flattened, in order."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


# --- predicates (registered in conformance.checks) ----------------------------------------------------------


def shape_predicate(value: Any, arg: Any, names: Any) -> str:
    return summarize(differences(arg, value))


def all_in_predicate(value: Any, arg: Any, names: Any) -> str:
    """Every value at a [*] path is one of the recorded ones, and there is at least one."""
    allowed = list(arg) if isinstance(arg, list) else [arg]
    values = flatten(value)
    if not values:
        return f"has no values, recorded {_show(allowed)}"
    other = [v for v in values if not any(_same(v, a) for a in allowed)]
    if other:
        return f"has {_show(other[0])}, recorded only {_show(allowed)}"
    return ""


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else bool(a == b)


def collapse(items: Iterable[Any]) -> list[Any]:
    """Consecutive repeats as one: the sequence of kinds, not how many deltas each kind had."""
    out: list[Any] = []
    for item in items:
        if not out or not _same(out[-1], item):
            out.append(item)
    return out


def in_order_predicate(value: Any, arg: Any, names: Any) -> str:
    """The recorded items occur in this order (others may come between; repeats are collapsed)."""
    if not isinstance(value, list):
        return f"is not a list: {_show(value)}"
    wanted = list(arg) if isinstance(arg, list) else [arg]
    got = collapse(flatten(value))
    position = 0
    for n, item in enumerate(wanted):
        while position < len(got) and not _same(got[position], item):
            position += 1
        if position == len(got):
            after = f" after {_show(wanted[n - 1])}" if n else ""
            present = any(_same(g, item) for g in got)
            how = "comes too early" if present else "is missing"
            return f"{_show(item)} (recorded {n + 1} of {len(wanted)}) {how}{after}; got {_show(got, 300)}"
        position += 1
    return ""
