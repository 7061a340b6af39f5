"""What a chat request constrains its answer to: tool calls (`tools`, `tool_choice`) and `response_format`.

Both end up as a grammar for the engine; this module validates the request's side of them with
OpenAI's parameter names and wording, so every problem is a 400 naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import APIError, invalid_value
from .grammar import Grammar, SchemaError, json_object_grammar, json_schema_grammar
from .schemas import (
    AllowedToolsChoice,
    ChatCompletionRequest,
    CustomTool,
    CustomToolChoice,
    JsonObjectFormat,
    JsonSchemaFormat,
    Message,
    NamedToolChoice,
)
from .tools import FunctionSpec, ToolPlan, function_spec, plan_tool_calls, strict_schema_problem, tool_prompt


@dataclass(frozen=True)
class ToolSetup:
    system_text: str  # the tool definitions, for the system message ("" without tools)
    plan: ToolPlan | None  # None: the output is not parsed for calls (no tools, or tool_choice none)


def _unsupported(param: str, message: str) -> APIError:
    return APIError(400, message, param=param, code="unsupported_parameter")


def chat_tools(body: ChatCompletionRequest) -> ToolSetup:
    if not body.tools:
        if body.tool_choice is not None and body.tool_choice != "none":
            raise invalid_value(
                "tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
            )
        return ToolSetup("", None)
    functions: list[FunctionSpec] = []
    for i, tool in enumerate(body.tools):
        if isinstance(tool, CustomTool):
            raise _unsupported(f"tools[{i}].type", "Custom tools are not supported by this server; use function tools.")
        f = tool.function
        functions.append(function_spec(f.name, f.description, f.parameters, f.strict, param=f"tools[{i}].function"))
    names = [f.name for f in functions]
    choice = body.tool_choice if body.tool_choice is not None else "auto"
    parallel = True if body.parallel_tool_calls is None else body.parallel_tool_calls
    callable_ = functions
    if isinstance(choice, CustomToolChoice):
        raise _unsupported("tool_choice.type", "Custom tools are not supported by this server; use function tools.")
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in names:
            raise invalid_value(
                "tool_choice.function.name",
                f"Invalid value for 'tool_choice': function '{choice.function.name}' is not one of the 'tools'.",
            )
        mode = choice.function.name
    elif isinstance(choice, AllowedToolsChoice):
        allowed = []
        for j, entry in enumerate(choice.allowed_tools.tools):
            name = (entry.get("function") or {}).get("name") if entry.get("type") == "function" else None
            if name not in names:
                raise invalid_value(
                    f"tool_choice.allowed_tools.tools[{j}]",
                    "Invalid value for 'tool_choice.allowed_tools': every entry must name one of the function 'tools'.",
                )
            allowed.append(name)
        callable_ = [f for f in functions if f.name in allowed]
        mode = choice.allowed_tools.mode
    else:
        mode = choice
    text = tool_prompt(functions)
    if mode == "none":
        return ToolSetup(text, None)
    return ToolSetup(text, plan_tool_calls(callable_, mode, parallel))


_JSON_WORD = re.compile("json", re.IGNORECASE)


def _mentions_json(messages: list[Message]) -> bool:
    for message in messages:
        content = message.content
        texts = [content] if isinstance(content, str) else [getattr(p, "text", "") for p in content or []]
        if any(_JSON_WORD.search(t or "") for t in texts):
            return True
    return False


def response_grammar(body: ChatCompletionRequest) -> Grammar | None:
    """The grammar for `response_format`, or None for plain text."""
    fmt = body.response_format
    if isinstance(fmt, JsonObjectFormat):
        if not _mentions_json(body.messages):
            raise APIError(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                param="messages",
            )
        return json_object_grammar()
    if not isinstance(fmt, JsonSchemaFormat):
        return None
    spec = fmt.json_schema
    schema = spec.schema_ if spec.schema_ is not None else {"type": "object"}

    def bad(message: str) -> APIError:
        return APIError(400, f"Invalid schema for response_format '{spec.name}': {message}", param="response_format")

    if schema.get("type") != "object":
        raise bad(f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{schema.get('type')}\"'.")
    if spec.strict:
        problem = strict_schema_problem(schema)
        if problem:
            raise bad(problem)
    try:
        return json_schema_grammar(schema)
    except SchemaError as exc:
        raise bad(str(exc)) from None
