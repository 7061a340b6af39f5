"""Responses items: the request's input as stored items, and any run of items as chat messages.

Everything the Responses API feeds the model (this request's input, and with `previous_response_id`
the earlier turns' input and output) is kept as *items* in the shape `GET .../input_items` returns
them. The prompt is then rendered by the chat path (`ChatTemplate`) from chat messages made out of
those items, so both endpoints give the model the very same text for the same conversation.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from openai.types.responses import (
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseInputMessageItem,
    ResponseInputText,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

from ..errors import APIError, invalid_value
from ..schemas import (
    AssistantMessage,
    DeveloperMessage,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from .request import (
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    InputPart,
    InputText,
    MessageItem,
    OutputText,
    Refusal,
)

Item = dict[str, Any]  # an item resource as JSON (what the store keeps and input_items lists)


def new_id(prefix: str) -> str:
    """OpenAI's id shape: a type prefix and 48 hex digits."""
    return f"{prefix}_{secrets.token_hex(24)}"


# --- request input -> items ----------------------------------------------------------------------


def input_items(value: str | list[InputItem] | None) -> list[Item]:
    """The request's `input` as item resources with ids, as `input_items` will list them."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [MessageItem(role="user", content=value)]
    return [_item(i, item) for i, item in enumerate(value)]


def _item(index: int, item: InputItem) -> Item:
    where = f"input[{index}]"
    if isinstance(item, FunctionCallItem):
        return ResponseFunctionToolCallItem(
            id=item.id or new_id("fc"),
            type="function_call",
            call_id=item.call_id,
            name=item.name,
            arguments=item.arguments,
            status=item.status or "completed",
        ).model_dump(mode="json", exclude_none=True)
    if isinstance(item, FunctionCallOutputItem):
        output = item.output if isinstance(item.output, str) else _joined(f"{where}.output", item.output)
        return ResponseFunctionToolCallOutputItem(
            id=item.id or new_id("fco"),
            type="function_call_output",
            call_id=item.call_id,
            output=output,
            status=item.status or "completed",
        ).model_dump(mode="json", exclude_none=True)
    if item.role == "assistant":
        text_parts = _assistant_parts(where, item.content)
        return ResponseOutputMessage(
            id=item.id or new_id("msg"),
            type="message",
            role="assistant",
            status=item.status or "completed",
            content=text_parts,
        ).model_dump(mode="json", exclude_none=True)
    content = [InputText(type="input_text", text=item.content)] if isinstance(item.content, str) else item.content
    for j, part in enumerate(content):
        _check_input_part(f"{where}.content[{j}]", part)
    return ResponseInputMessageItem(
        id=item.id or new_id("msg"),
        type="message",
        role=item.role,
        status=item.status or "completed",
        content=[ResponseInputText(type="input_text", text=p.text) for p in content if isinstance(p, InputText)],
    ).model_dump(mode="json", exclude_none=True)


def _unsupported_media(where: str, kind: str) -> APIError:
    label = {"input_image": "image", "input_file": "file", "input_audio": "audio"}.get(kind, kind)
    return APIError(400, f"This model does not support {label} input.", param=where, code="unsupported_content_type")


def _check_input_part(where: str, part: ContentPart) -> None:
    if isinstance(part, InputText):
        return
    if isinstance(part, OutputText | Refusal):
        raise invalid_value(
            f"{where}.type",
            f"Invalid value: '{part.type}'. Supported values are: 'input_text', 'input_image', and 'input_file'.",
        )
    raise _unsupported_media(where, part.type)


def _assistant_parts(where: str, content: str | list[ContentPart]) -> list[ResponseOutputText | ResponseOutputRefusal]:
    if isinstance(content, str):
        return [ResponseOutputText(type="output_text", text=content, annotations=[])]
    out: list[ResponseOutputText | ResponseOutputRefusal] = []
    for j, part in enumerate(content):
        if isinstance(part, OutputText):
            out.append(ResponseOutputText(type="output_text", text=part.text, annotations=[]))
        elif isinstance(part, Refusal):
            out.append(ResponseOutputRefusal(type="refusal", refusal=part.refusal))
        else:
            raise invalid_value(
                f"{where}.content[{j}].type",
                f"Invalid value: '{part.type}'. Supported values are: 'output_text' and 'refusal'.",
            )
    return out


def _joined(where: str, parts: Sequence[InputPart]) -> str:
    texts = []
    for j, part in enumerate(parts):
        _check_input_part(f"{where}[{j}]", part)
        assert isinstance(part, InputText)
        texts.append(part.text)
    return "\n".join(texts)


# --- items -> chat messages ----------------------------------------------------------------------


def chat_messages(instructions: str | None, items: Sequence[Item]) -> list[Message]:
    """The conversation as chat messages: instructions first (as a system message), then the items.

    Consecutive function calls become one assistant message with several tool calls, as a chat
    client would send parallel calls.
    """
    messages: list[Message] = []
    if instructions:
        messages.append(SystemMessage(role="system", content=instructions))
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if isinstance(last, AssistantMessage) and last.tool_calls and last.content is None:
                last.tool_calls.append(call)
            else:
                messages.append(AssistantMessage(role="assistant", content=None, tool_calls=[call]))
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else "\n".join(p.get("text", "") for p in output)
            messages.append(ToolMessage(role="tool", content=text, tool_call_id=item["call_id"]))
        elif kind == "message":
            messages.append(_message(item))
    return messages


def _message(item: Item) -> Message:
    role = item["role"]
    parts = item.get("content") or []
    if role == "assistant":
        text = "".join(p.get("text", "") if p.get("type") == "output_text" else p.get("refusal", "") for p in parts)
        return AssistantMessage(role="assistant", content=text)
    texts = [TextPart(type="text", text=p.get("text", "")) for p in parts if p.get("type") == "input_text"]
    content: str | list[TextPart] = texts if texts else ""
    if role == "system":
        return SystemMessage(role="system", content=content)
    if role == "developer":
        return DeveloperMessage(role="developer", content=content)
    return UserMessage(role="user", content=content)
