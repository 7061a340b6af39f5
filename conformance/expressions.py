"""The little language cases use to refer to earlier answers: `${...}` templates and field paths.

A case derives its expectations from the server itself (a baseline call, then the same call with one
parameter changed), so its YAML needs to say things like "stop at a substring of the baseline's
content" or "the same text as the baseline". Expressions are Python syntax evaluated over a fixed,
side-effect-free subset (names of earlier steps, field access, indexing, comparisons and the helper
functions below), parsed with `ast` so a bad expression is caught when the case file loads.

Field paths (`body.choices[0].message.content`, `chunks[*].id`) address one step's answer; `[*]`
maps over a list.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from conformance import strict_json, vectors


class ExpressionError(ValueError):
    """An expression that cannot be parsed, uses something outside the subset, or cannot be evaluated."""


class MissingValue(ExpressionError):
    """A path or name that does not exist in the answer (e.g. the server left a field out)."""


# ---------------------------------------------------------------------------------------------------
# Helper functions available inside ${...}. Each is pure and total over sensible inputs.


def _substr(text: str, start: int, length: int) -> str:
    return str(text)[start : start + length]


def _middle(text: str, length: int) -> str:
    """`length` characters from the middle of `text`: a stop string that surely occurs in it."""
    text = str(text)
    start = max(0, (len(text) - length) // 2)
    return text[start : start + length]


def _before(text: str, sub: str) -> str:
    """`text` up to (not including) the first occurrence of `sub`; all of it when absent."""
    text = str(text)
    index = text.find(sub)
    return text if index < 0 else text[:index]


def _absent_from(text: str) -> str:
    """A short string that does not occur in `text`: a stop sequence that must never trigger."""
    for n in range(1000):
        candidate = f"~#{n}#~"
        if candidate not in str(text):
            return candidate
    raise ExpressionError("could not find a string absent from the text")


def _join(items: Any, sep: str = "") -> str:
    return sep.join("" if item is None else str(item) for item in items)


def _pluck(items: Any, key: str) -> list[Any]:
    return [item.get(key) if isinstance(item, Mapping) else None for item in items]


def _group_by(items: Any, key: str) -> dict[str, list[Any]]:
    """Objects grouped by the value of `key`, in order: a stream's events by type, to shape each kind."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        if isinstance(item, Mapping):
            groups.setdefault(str(item.get(key)), []).append(item)
    return groups


def _bias(ids: Any, value: int | float) -> dict[str, int | float]:
    """A logit_bias map giving every token id in `ids` the same bias."""
    return {str(int(i)): value for i in ids}


def _range(*args: int) -> list[int]:
    values = range(*args)
    if len(values) > 200_000:
        raise ExpressionError(f"range of {len(values)} items is too large")
    return list(values)


def _unique(items: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(json.dumps(item, sort_keys=True, default=str), item)
    return list(seen.values())


def _nth(items: Any, index: int) -> list[Any]:
    """Element `index` of every list in `items` (None where a list is too short): the first alternative per token."""
    return [item[index] if isinstance(item, list) and -len(item) <= index < len(item) else None for item in items]


def _agree(first: Any, second: Any) -> float:
    """The share of positions where two lists hold equal items (over the longer list; 1.0 when both are empty)."""
    a, b = list(first), list(second)
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else sum(1 for x, y in zip(a, b, strict=False) if x == y) / longest


def _common_prefix(texts: Any) -> str:
    """The longest string every one of `texts` starts with: how far near-greedy answers agree."""
    items = [str(t) for t in texts]
    if not items:
        return ""
    shortest, longest = min(items), max(items)
    n = 0
    while n < len(shortest) and shortest[n] == longest[n]:
        n += 1
    return shortest[:n]


def _max_word_repeats(text: str) -> int:
    """How often the most frequent word occurs: penalties can only change output that repeats itself."""
    words = re.findall(r"\w+", str(text).lower())
    return max(Counter(words).values(), default=0)


def _output_text(response: Any) -> str:
    """A Responses API answer's text, as the SDK's `output_text`: the output_text parts of its messages.

    Reasoning items and tool calls may come first, so `output[0].content[0].text` is not portable.
    """
    if not isinstance(response, Mapping) or not isinstance(response.get("output"), list):
        raise ExpressionError(f"not a response object with an output list: {str(response)[:80]}")
    texts = []
    for item in response["output"]:
        if isinstance(item, Mapping) and item.get("type") == "message" and isinstance(item.get("content"), list):
            texts += [p.get("text", "") for p in item["content"] if isinstance(p, Mapping) and p.get("type") == "output_text"]
    return "".join(str(t) for t in texts)


def _parse_json(text: str) -> Any:
    try:
        return strict_json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"not JSON: {exc}") from exc


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "any": any,
    "all": all,
    "sorted": sorted,
    "range": _range,
    "lower": lambda s: str(s).lower(),
    "strip": lambda s: str(s).strip(),
    "words": lambda s: str(s).split(),
    "substr": _substr,
    "middle": _middle,
    "before": _before,
    "absent_from": _absent_from,
    "join": _join,
    "pluck": _pluck,
    "group_by": _group_by,
    "bias": _bias,
    "unique": _unique,
    "nth": _nth,
    "agree": _agree,
    "common_prefix": _common_prefix,
    "max_word_repeats": _max_word_repeats,
    "json": _parse_json,
    **vectors.FUNCTIONS,  # norm, norms, cosine, b64floats: embeddings
    "output_text": _output_text,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Call, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp,
    ast.IfExp, ast.List, ast.Tuple, ast.Dict, *_BINOPS, *_CMPOPS,
)  # fmt: skip


def parse(source: str) -> ast.Expression:
    """Parse and vet an expression; raises ExpressionError naming what is not allowed."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"bad expression {source!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"bad expression {source!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise ExpressionError(f"bad expression {source!r}: only these functions exist: {', '.join(FUNCTIONS)}")
        if isinstance(node, ast.Call) and node.keywords:
            raise ExpressionError(f"bad expression {source!r}: keyword arguments are not supported")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"bad expression {source!r}: private names are not allowed")
    return tree


def free_names(tree: ast.Expression) -> set[str]:
    """Names an expression reads (excluding function names): the steps it depends on."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def evaluate(source: str | ast.Expression, names: Mapping[str, Any]) -> Any:
    tree = parse(source) if isinstance(source, str) else source
    return _eval(tree.body, names)


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name not in names:
                raise MissingValue(f"{name} is not available")
            return names[name]
        case ast.Attribute(value=inner, attr=attr):
            return _index(_eval(inner, names), attr, ast.unparse(node))
        case ast.Subscript(value=inner, slice=ast.Slice() as sl):
            target = _eval(inner, names)
            lower, upper = (None if x is None else _eval(x, names) for x in (sl.lower, sl.upper))
            return target[lower:upper]
        case ast.Subscript(value=inner, slice=key):
            return _index(_eval(inner, names), _eval(key, names), ast.unparse(node))
        case ast.Call(func=ast.Name(id=fname), args=args):
            values = [_eval(a, names) for a in args]
            try:
                return FUNCTIONS[fname](*values)
            except ExpressionError:
                raise
            except Exception as exc:
                raise ExpressionError(f"{ast.unparse(node)}: {exc}") from exc
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, names)
            for op, comp in zip(ops, comparators, strict=True):
                right = _eval(comp, names)
                if not _apply(_CMPOPS[type(op)], current, right, node):
                    return False
                current = right
            return True
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for v in values:
                result = _eval(v, names)
                if not result:
                    return result
            return result
        case ast.BoolOp(op=ast.Or(), values=values):
            result = False
            for v in values:
                result = _eval(v, names)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, names)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return _apply(operator.neg, _eval(operand, names), None, node, unary=True)
        case ast.BinOp(left=left, op=op, right=right):
            return _apply(_BINOPS[type(op)], _eval(left, names), _eval(right, names), node)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, names) if _eval(test, names) else _eval(orelse, names)
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, names) for e in elts]
        case ast.Dict(keys=keys, values=values):
            return {_eval(k, names): _eval(v, names) for k, v in zip(keys, values, strict=True) if k is not None}
    raise ExpressionError(f"cannot evaluate {ast.unparse(node)}")


def _apply(fn: Callable[..., Any], a: Any, b: Any, node: ast.AST, unary: bool = False) -> Any:
    try:
        return fn(a) if unary else fn(a, b)
    except Exception as exc:
        raise ExpressionError(f"{ast.unparse(node)}: {exc}") from exc


def _index(target: Any, key: Any, where: str) -> Any:
    if isinstance(target, Mapping):
        if key in target:
            return target[key]
        raise MissingValue(f"{where} is missing")
    if isinstance(target, list | str):
        if isinstance(key, int) and not isinstance(key, bool) and -len(target) <= key < len(target):
            return target[key]
        raise MissingValue(f"{where} is missing")
    raise MissingValue(f"{where}: cannot look up {key!r} in {type(target).__name__}")


# ---------------------------------------------------------------------------------------------------
# ${...} templates


def _scan(text: str) -> Iterator[tuple[str, bool]]:
    """Split `text` into literal pieces and expression sources; `$${` escapes a literal `${`."""
    i, literal = 0, []
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise ExpressionError(f"unclosed ${{ in {text!r}")
            if literal:
                yield "".join(literal), False
                literal = []
            yield text[i + 2 : j - 1], True
            i = j
        else:
            literal.append(text[i])
            i += 1
    if literal:
        yield "".join(literal), False


def expressions_in(value: Any) -> Iterator[str]:
    """Every ${...} source inside a YAML value (strings, keys, nested lists and maps)."""
    if isinstance(value, str):
        for piece, is_expr in _scan(value):
            if is_expr:
                yield piece
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from expressions_in(k)
            yield from expressions_in(v)
    elif isinstance(value, list):
        for item in value:
            yield from expressions_in(item)


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """Substitute templates. A string that is exactly one `${expr}` keeps the value's type."""
    if isinstance(value, str):
        pieces = list(_scan(value))
        if len(pieces) == 1 and pieces[0][1]:
            return evaluate(pieces[0][0], names)
        return "".join(str(evaluate(p, names)) if is_expr else p for p, is_expr in pieces)
    if isinstance(value, Mapping):
        return {str(render(k, names)): render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [render(item, names) for item in value]
    return value


# ---------------------------------------------------------------------------------------------------
# Field paths

_PATH_TOKEN = re.compile(r"""\.?([A-Za-z_][\w-]*)|\[(-?\d+|\*)\]|\[["']([^"']*)["']\]""")


def parse_path(path: str) -> list[str | int]:
    """`body.choices[0].message` -> ["body", "choices", 0, "message"]; `[*]` becomes "*"."""
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if not m or (pos == 0 and path.startswith(".")):
            raise ExpressionError(f"bad field path {path!r} at {path[pos:]!r}")
        name, index, quoted = m.groups()
        if name is not None:
            tokens.append(name)
        elif quoted is not None:
            tokens.append(quoted)
        else:
            tokens.append("*" if index == "*" else int(index))
        pos = m.end()
    if not tokens:
        raise ExpressionError("empty field path")
    return tokens


def resolve(data: Any, path: str) -> Any:
    """The value at `path`; raises MissingValue naming the first missing segment."""
    return _walk(data, parse_path(path), path, [])


def _walk(data: Any, tokens: list[str | int], path: str, seen: list[str]) -> Any:
    if not tokens:
        return data
    token, rest = tokens[0], tokens[1:]
    where = _render_tokens(seen)
    if token == "*":
        if not isinstance(data, list):
            raise MissingValue(f"{where or path} is not a list")
        return [_walk(item, rest, path, [*seen, f"[{i}]"]) for i, item in enumerate(data)]
    label = f"[{token}]" if isinstance(token, int) else str(token)
    if isinstance(token, int):
        if not isinstance(data, list) or not -len(data) <= token < len(data):
            raise MissingValue(f"{_render_tokens([*seen, label])} is missing")
        return _walk(data[token], rest, path, [*seen, label])
    if not isinstance(data, Mapping) or token not in data:
        raise MissingValue(f"{_render_tokens([*seen, label])} is missing")
    return _walk(data[token], rest, path, [*seen, label])


def _render_tokens(tokens: list[str]) -> str:
    return "".join(t if t.startswith("[") else f".{t}" for t in tokens).lstrip(".")
