"""What a Responses request constrains its answer to: function `tools`/`tool_choice` and `text.format`.

The machinery is the chat path's (`tools.py`: prompt text, call convention, grammars;
`grammar.py`: JSON grammars); this module only reads the Responses shapes of the same things
(flat function tools, `{type: function, name}` choices, `text.format`) and names the Responses
parameters in its 400s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..chat_constraints import ToolSetup
from ..errors import APIError, invalid_value, validation_error
from ..grammar import Grammar, SchemaError, json_object_grammar, json_schema_grammar
from ..tools import FunctionSpec, function_spec, plan_tool_calls, strict_schema_problem, tool_prompt
from .conversation import Item
from .request import CreateResponseRequest, FormatJsonObject, FormatJsonSchema


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    defer_loading: bool | None = None
    output_schema: dict[str, Any] | None = None
    allowed_callers: list[str] | None = None


def _unsupported(param: str, message: str) -> APIError:
    return APIError(400, message, param=param, code="unsupported_parameter")


def function_tools(body: CreateResponseRequest) -> list[FunctionTool]:
    """The request's tools, all of them functions (the only kind a local model can call)."""
    tools: list[FunctionTool] = []
    for i, raw in enumerate(body.tools or []):
        kind = raw.get("type")
        if kind != "function":
            raise _unsupported(f"tools[{i}].type", f"Tools of type '{kind}' are not supported by this server; use function tools.")
        try:
            tools.append(FunctionTool.model_validate(raw))
        except ValidationError as exc:
            errors = [{**e, "loc": ("tools", i, *e["loc"])} for e in exc.errors()]
            raise validation_error(errors, {"tools": body.tools}) from None
    return tools


def response_tools(body: CreateResponseRequest, tools: Sequence[FunctionTool]) -> ToolSetup:
    choice = body.tool_choice if body.tool_choice is not None else "auto"
    if not tools:
        if choice not in ("none", "auto"):
            raise invalid_value("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
        return ToolSetup("", None)
    functions: list[FunctionSpec] = [
        function_spec(t.name, t.description, t.parameters, t.strict, param=f"tools[{i}]") for i, t in enumerate(tools)
    ]
    names = [f.name for f in functions]
    callable_ = functions
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid_value("tool_choice", f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.")
        mode = choice
    elif choice.get("type") == "function":
        name = choice.get("name")
        if name not in names:
            raise invalid_value("tool_choice.name", f"Invalid value for 'tool_choice': function '{name}' is not one of the 'tools'.")
        mode = str(name)
    elif choice.get("type") == "allowed_tools":
        mode = choice.get("mode")
        if mode not in ("auto", "required"):
            raise invalid_value("tool_choice.mode", f"Invalid value: '{mode}'. Supported values are: 'auto' and 'required'.")
        allowed = []
        for j, entry in enumerate(choice.get("tools") or []):
            if not isinstance(entry, dict) or entry.get("type") != "function" or entry.get("name") not in names:
                raise invalid_value(
                    f"tool_choice.tools[{j}]", "Invalid value for 'tool_choice.tools': every entry must name one of the function 'tools'."
                )
            allowed.append(entry["name"])
        callable_ = [f for f in functions if f.name in allowed]
    else:
        raise _unsupported("tool_choice.type", f"Tool choice of type '{choice.get('type')}' is not supported by this server.")
    text = tool_prompt(functions)
    if mode == "none":
        return ToolSetup(text, None)
    parallel = True if body.parallel_tool_calls is None else body.parallel_tool_calls
    return ToolSetup(text, plan_tool_calls(callable_, mode, parallel))


_JSON_WORD = re.compile("json", re.IGNORECASE)


def _mentions_json(instructions: str | None, items: Sequence[Item]) -> bool:
    texts = [instructions or ""]
    for item in items:
        if item.get("type") == "message":
            texts += [p.get("text", "") for p in item.get("content") or []]
        elif item.get("type") == "function_call_output" and isinstance(item.get("output"), str):
            texts.append(item["output"])
    return any(_JSON_WORD.search(t) for t in texts)


def text_grammar(body: CreateResponseRequest, context: Sequence[Item]) -> Grammar | None:
    """The grammar for `text.format`, or None for plain text."""
    fmt = body.text.format if body.text else None
    if isinstance(fmt, FormatJsonObject):
        if not _mentions_json(body.instructions, context):
            raise APIError(
                400,
                "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.",
                param="input",
            )
        return json_object_grammar()
    if not isinstance(fmt, FormatJsonSchema):
        return None

    def bad(message: str) -> APIError:
        return APIError(400, f"Invalid schema for response_format '{fmt.name}': {message}", param="text.format.schema")

    if fmt.schema_.get("type") != "object":
        raise bad(f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{fmt.schema_.get('type')}\"'.")
    if fmt.strict:
        problem = strict_schema_problem(fmt.schema_)
        if problem:
            raise bad(problem)
    try:
        return json_schema_grammar(fmt.schema_)
    except SchemaError as exc:
        raise bad(str(exc)) from None


def tools_echo(tools: Sequence[FunctionTool]) -> list[dict[str, Any]]:
    """The tools as the response object lists them (FunctionTool: type, name, parameters, strict...)."""
    return [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters if t.parameters is not None else {"type": "object", "properties": {}},
            "strict": bool(t.strict),
        }
        for t in tools
    ]
