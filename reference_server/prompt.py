"""Render chat messages into the model's prompt with the chat template stored in its GGUF file.

The template is the model author's own (`tokenizer.chat_template`), rendered with llama-cpp-python's
Jinja2 formatter, so the prompt is what the model was trained on. Message shapes the template cannot
express are normalised first: text-part arrays become strings, and `developer` becomes `system` when
the template does not know the developer role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from .errors import APIError
from .schemas import (
    AssistantMessage,
    DeveloperMessage,
    Message,
    RefusalPart,
    TextPart,
    ToolMessage,
)

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

    def render(self, messages: Sequence[Message]) -> str:
        converted = [self._convert(i, m) for i, m in enumerate(messages)]
        try:
            return self._formatter(messages=converted).prompt
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
            out["tool_calls"] = message.tool_calls
        if getattr(message, "name", None):
            out["name"] = message.name
        return out


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
