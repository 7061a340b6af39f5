"""Render chat messages into the model's prompt with the chat template stored in its GGUF file.

The template is the model author's own (`tokenizer.chat_template`), rendered with llama-cpp-python's
Jinja2 formatter, so the prompt is what the model was trained on. Message shapes the template cannot
express are normalised first: text-part arrays become strings, `developer` becomes `system` when
the template does not know the developer role, and earlier tool calls become assistant text in the
server's tool-call convention (tools.py), with the tool definitions added to the system message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from pydantic import TypeAdapter

from .errors import APIError
from .schemas import (
    AssistantMessage,
    DeveloperMessage,
    FunctionToolCall,
    Message,
    RefusalPart,
    TextPart,
    ToolCall,
    ToolMessage,
)
from .tools import render_tool_calls

_TOOL_CALL: TypeAdapter[ToolCall] = TypeAdapter(ToolCall)

# Used only for a GGUF without a chat template: ChatML is the most widespread convention.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplate:
    def __init__(self, metadata: dict[str, str], *, bos_token: str, eos_token: str) -> None:
        self.source = metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        self.from_gguf = "tokenizer.chat_template" in metadata
        self._formatter = Jinja2ChatFormatter(template=self.source, eos_token=eos_token, bos_token=bos_token)
        self._knows_developer = "developer" in self.source

    def render(self, messages: Sequence[Message], *, system_extra: str = "", prefill: str = "") -> str:
        """The prompt, ending with the assistant's turn opened (and `prefill` already written in it).

        `system_extra` (the tool definitions) is appended to a leading system message, or becomes one.
        """
        converted = [self._convert(i, m) for i, m in enumerate(messages)]
        if system_extra:
            if converted and converted[0]["role"] == "system":
                first = converted[0]
                converted[0] = {**first, "content": f"{first['content']}\n\n{system_extra}" if first["content"] else system_extra}
            else:
                converted.insert(0, {"role": "system", "content": system_extra})
        try:
            return self._formatter(messages=converted).prompt + prefill
        except Exception as exc:  # templates raise on conversations they do not support
            raise APIError(400, f"The model's chat template rejected these messages: {exc}", param="messages") from exc

    def _convert(self, index: int, message: Message) -> dict[str, Any]:
        role = message.role
        if isinstance(message, DeveloperMessage) and not self._knows_developer:
            role = "system"
        out: dict[str, Any] = {"role": role, "content": _text(index, message)}
        if isinstance(message, ToolMessage):
            out["tool_call_id"] = message.tool_call_id
        if isinstance(message, AssistantMessage) and message.tool_calls:
            # In the server's own convention (tools.py), whatever the template knows of tools: the
            # model is asked to write calls that way, so earlier calls must look the same.
            calls = render_tool_calls(_called(index, message))
            out["content"] = f"{out['content']}\n{calls}" if out["content"] else calls
        if getattr(message, "name", None):
            out["name"] = message.name
        return out


def _called(index: int, message: AssistantMessage) -> list[tuple[str, str]]:
    calls = []
    for j, call in enumerate(message.tool_calls or []):
        if isinstance(call, dict):  # appended to an already-built message (responses' conversation)
            call = _TOOL_CALL.validate_python(call)
        if not isinstance(call, FunctionToolCall):
            raise APIError(
                400,
                "This server only has function tools; custom tool calls cannot be replayed.",
                param=f"messages[{index}].tool_calls[{j}]",
                code="unsupported_parameter",
            )
        calls.append((call.function.name, call.function.arguments))
    return calls


def _text(index: int, message: Message) -> str:
    """The message's content as one string; text parts are joined by newlines."""
    content = message.content
    if content is None:
        return message.refusal if isinstance(message, AssistantMessage) and message.refusal else ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)
        else:
            kind = {"image_url": "image", "input_audio": "audio", "file": "file"}.get(part.type, part.type)
            raise APIError(
                400,
                f"This model does not support {kind} input.",
                param=f"messages[{index}].content[{j}]",
                code="unsupported_content_type",
            )
    return "\n".join(texts)
