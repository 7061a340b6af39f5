"""GBNF grammars for constrained generation, built from JSON Schemas by llama.cpp's own converter.

Structured output (`response_format`) and forced tool calls are guaranteed by construction: the
sampler only ever offers tokens that keep the output inside a grammar. The JSON Schema -> GBNF
translation is llama-cpp-python's `SchemaConverter` (the one behind `json_schema_to_gbnf`); this
module only validates the schema first (so a bad one is the client's 400, not a crash mid-generation)
and lets several schemas share one grammar without their rule names clashing.

The converter does not enforce every keyword (numeric bounds, for instance, are not expressible in
GBNF); those are left to the model, as in llama.cpp's own server.

API for other routes (chat, responses):
- `check_json_schema(schema)` raises `SchemaError` for something that is not a usable JSON Schema.
- `GrammarBuilder`: `schema(s, name)` adds a schema's rules and returns its rule name,
  `build(root)` gives the GBNF text whose `root` rule is the given expression.
- `literal(text)` is a GBNF string literal; `json_object_grammar()` and `json_schema_grammar(s)`
  cover `response_format`.
- `Grammar(text, triggers)`: what the engine needs; with `triggers` the grammar is lazy (free text
  until one of the regular expressions matches the output, constrained from the match on).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as _JsonSchemaError
from llama_cpp.llama_grammar import SchemaConverter


class SchemaError(ValueError):
    """The schema cannot be used; the message is meant for the client."""


@dataclass(frozen=True)
class Grammar:
    text: str  # GBNF, with a `root` rule
    triggers: tuple[str, ...] = ()  # non-empty: lazy grammar, switched on by the first matching pattern


def literal(text: str) -> str:
    """A GBNF string literal (JSON escapes are a subset of GBNF's for the characters used here)."""
    return json.dumps(text, ensure_ascii=False)


def check_json_schema(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"a JSON Schema must be an object, got {json.dumps(schema)[:80]}")
    try:
        Draft202012Validator.check_schema(schema)
    except _JsonSchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise SchemaError(f"{exc.message}" + (f" (at '{where}')" if where else "")) from None


class GrammarBuilder:
    """Several schemas in one grammar: one converter, so shared rules are shared and others renamed."""

    def __init__(self) -> None:
        self._converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        self._count = 0

    def schema(self, schema: Mapping[str, Any], name: str) -> str:
        """Add the rules for `schema` under `name` (a prefix, never `root`); returns the rule to use."""
        check_json_schema(schema)
        self._count += 1
        resolved = copy.deepcopy(dict(schema))  # the converter rewrites $refs in place
        try:
            resolved = self._converter.resolve_refs(resolved, f"schema{self._count}")
            return str(self._converter.visit(resolved, name))
        except (AssertionError, KeyError, ValueError, TypeError, RecursionError) as exc:
            raise SchemaError(f"the schema cannot be turned into a grammar: {exc or type(exc).__name__}") from None

    def build(self, root: str) -> str:
        return f"{self._converter.format_grammar()}\nroot ::= {root}\n"


def json_object_grammar() -> Grammar:
    """Any JSON object: `response_format: json_object`."""
    return json_schema_grammar({"type": "object"})


def json_schema_grammar(schema: Mapping[str, Any]) -> Grammar:
    """Output that validates against `schema`: `response_format: json_schema`."""
    builder = GrammarBuilder()
    return Grammar(builder.build(builder.schema(schema, "output")))
