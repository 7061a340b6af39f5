"""Function tools for a model without a tool-calling chat template: prompt text, history and grammars.

SmolLM2's template knows nothing of tools, so the server teaches the model one plain-text convention
(the widespread Hermes/Qwen one) and holds it to it:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

- The function definitions go into the system message (`tool_prompt`), earlier calls into the
  assistant turns that made them (`render_tool_calls`), so a conversation replays the convention.
- When a call is forced (`required`, or a named function), the prompt already ends with the opening
  of the call (`ToolPlan.prefill`: the tag, and the name when only one function can be called) and a
  grammar allows nothing but arguments that validate against the function's `parameters` schema,
  then more calls (if parallel calls are allowed) or the end.
- With `auto` the model writes freely; the grammar is lazy and switches on when `<tool_call>`
  appears, so a call the model decides to make is still well-formed (llama.cpp's own server does the
  same with its lazy grammars).
- `tool_calls.ToolCallParser` turns the output back into content and calls, incrementally.

API for other routes (helper code for /v1/responses as well as chat):
- `function_spec(name, description, parameters, strict, param=...)` validates one function definition
  (400 `APIError` naming `param`), `strict_schema_problem(schema)` checks OpenAI's strict-mode rules.
- `tool_prompt(functions)` is the system text, `render_tool_calls([(name, arguments), ...])` the
  assistant text of earlier calls.
- `plan_tool_calls(functions, mode, parallel)` with mode "auto", "required" or a function name gives
  a `ToolPlan` (prefill, grammar); pass `plan.prefill` to the parser too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import APIError
from .grammar import Grammar, GrammarBuilder, SchemaError, literal

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
NEWLINE = "\n"
# Free text until the opening tag; the grammar then takes over from the tag on (llama.cpp matches the
# whole output so far and constrains from the first capture group).
_TRIGGER = r"[\s\S]*?(<tool_call>)[\s\S]*"
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str | None
    parameters: Mapping[str, Any]  # a JSON Schema for the arguments object
    strict: bool = False

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["parameters"] = self.parameters
        return out


@dataclass(frozen=True)
class ToolPlan:
    functions: tuple[FunctionSpec, ...]
    prefill: str  # assistant text the prompt ends with; the parser must see it first
    grammar: Grammar | None
    forced: bool  # the answer is tool calls and nothing else


def strict_schema_problem(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """OpenAI's strict-mode rules: every object closes `additionalProperties` and requires all its keys."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            problem = strict_schema_problem(item, (*context, str(i)))
            if problem:
                return problem
        return None
    if not isinstance(schema, dict):
        return None
    where = f"In context={context!r}, "
    is_object = schema.get("type") == "object" or (isinstance(schema.get("type"), list) and "object" in schema["type"])
    if is_object or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return where + "'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        missing = [k for k in properties if k not in (schema.get("required") or [])]
        if missing:
            return where + f"'required' is required to be supplied and to be an array including every key in properties. Missing '{missing[0]}'."
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                problem = strict_schema_problem(sub, (*context, key, name))
                if problem:
                    return problem
        elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "additionalProperties", "not"):
            problem = strict_schema_problem(value, (*context, key))
            if problem:
                return problem
    return None


def function_spec(
    name: str, description: str | None, parameters: Mapping[str, Any] | None, strict: bool | None, *, param: str
) -> FunctionSpec:
    """A validated function definition; `param` names it in errors (`tools[0].function`)."""
    schema = dict(parameters) if parameters is not None else dict(EMPTY_PARAMETERS)

    def bad(message: str) -> APIError:
        return APIError(400, f"Invalid schema for function '{name}': {message}", param=f"{param}.parameters", code="invalid_function_parameters")

    if schema.get("type", "object") != "object":
        raise bad(f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{schema.get('type')}\"'.")
    if strict:
        problem = strict_schema_problem(schema)
        if problem:
            raise bad(problem)
    try:
        GrammarBuilder().schema(schema, "arguments")  # compiles now, so a bad one is a 400 here
    except SchemaError as exc:
        raise bad(str(exc)) from None
    return FunctionSpec(name=name, description=description, parameters=schema, strict=bool(strict))


def tool_prompt(functions: Sequence[FunctionSpec]) -> str:
    listing = "\n".join(json.dumps(f.definition(), ensure_ascii=False) for f in functions)
    return (
        "You can call functions to help with the answer. The functions, with JSON Schemas for their "
        f"arguments:\n<tools>\n{listing}\n</tools>\n"
        "To call a function, answer with its name and arguments in this form:\n"
        f'{OPEN}\n{{"name": "<function name>", "arguments": <arguments as a JSON object>}}\n{CLOSE}'
    )


def _header(name: str) -> str:
    return f'{{"name": "{name}", "arguments": '


def render_tool_calls(calls: Iterable[tuple[str, str]]) -> str:
    """Earlier calls as the model would have written them; `arguments` is the JSON text from the client."""
    blocks = []
    for name, arguments in calls:
        try:
            args = json.dumps(json.loads(arguments), ensure_ascii=False)
        except (TypeError, ValueError):
            args = json.dumps(arguments, ensure_ascii=False)  # not JSON: keep it, as a string
        blocks.append(f"{OPEN}\n{_header(name)}{args}}}\n{CLOSE}")
    return "".join(blocks)  # as the grammar writes them: the next tag right after the last


def plan_tool_calls(functions: Sequence[FunctionSpec], mode: str, parallel: bool) -> ToolPlan:
    """`mode` is "auto", "required" or the name of the function that must be called."""
    functions = tuple(functions)
    builder = GrammarBuilder()
    arguments = {f.name: builder.schema(f.parameters, f"{f.name}-arguments") for f in functions}

    def call(candidates: Sequence[FunctionSpec], header_done: str) -> str:
        """The rest of one call once `header_done` (a prefix of every candidate's header) is written."""
        alternatives = [
            f"{literal(_header(f.name)[len(header_done):])} {arguments[f.name]} \"}}\"" if _header(f.name)[len(header_done):]
            else f"{arguments[f.name]} \"}}\""
            for f in candidates
        ]
        return "( " + " | ".join(alternatives) + " )"

    # Another call only after a closed one: the model decides at the closing tag, where ending the
    # turn is what its training makes likely (a bare newline would just run on into more calls).
    close, reopen = literal(NEWLINE + CLOSE), literal(OPEN + NEWLINE)
    if mode == "auto":
        more = f"( {close} {reopen} {call(functions, '')} )* {close}?" if parallel else f"{close}?"
        root = f"{literal(OPEN + NEWLINE)} {call(functions, '')} {more}"
        return ToolPlan(functions, prefill="", grammar=Grammar(builder.build(root), triggers=(_TRIGGER,)), forced=False)
    candidates = functions if mode == "required" else tuple(f for f in functions if f.name == mode)
    header = _header(candidates[0].name) if len(candidates) == 1 else '{"name": "'
    more = f"( {close} ( {reopen} {call(candidates, '')} {close} )* )?" if parallel and mode == "required" else ""
    root = f"{call(candidates, header)} {more}"
    return ToolPlan(functions, prefill=f"{OPEN}\n{header}", grammar=Grammar(builder.build(root)), forced=True)
