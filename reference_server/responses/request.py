"""The `POST /v1/responses` request body as pydantic models, with the spec's shapes and ranges.

Like the chat request (`reference_server/schemas.py`), unknown fields are errors, so a typo or a
feature this server does not know never passes silently. Input items are modelled only for the kinds
a text model can take part in (messages, function calls and their outputs); every other item type is
refused by the discriminator with OpenAI's "Invalid value ... Supported values are" message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema_rs
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from ..request_model import Nullable, RequestModel
from ..schemas import INT64_MAX, PromptCacheBreakpoint, PromptCacheOptions

# --- content parts -------------------------------------------------------------------------------


class InputText(RequestModel):
    type: Literal["input_text"]
    text: str
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class FileCitation(RequestModel):
    type: Literal["file_citation"]
    file_id: str
    index: int
    filename: str


def _absolute_uri(value: str) -> str:
    """The spec's `format: uri`, checked by the same validator schemathesis judges requests with."""
    if not _URI.is_valid(value):
        raise ValueError("must be an absolute URI (RFC 3986)")
    return value


_URI = jsonschema_rs.validator_for({"type": "string", "format": "uri"}, validate_formats=True)


class UrlCitation(RequestModel):
    type: Literal["url_citation"]
    url: Annotated[str, AfterValidator(_absolute_uri)]
    start_index: int
    end_index: int
    title: str


class ContainerFileCitation(RequestModel):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    start_index: int
    end_index: int
    filename: str


class FilePath(RequestModel):
    type: Literal["file_path"]
    file_id: str
    index: int


Annotation = Annotated[FileCitation | UrlCitation | ContainerFileCitation | FilePath, Field(discriminator="type")]


class TopLogprob(RequestModel):
    token: str
    logprob: float
    bytes: list[int]


class Logprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class OutputText(RequestModel):
    """An earlier answer's text sent back as input: kept as text, but checked as the spec shapes it
    (annotations and logprobs are what clients echo back from output, and the SDK types them)."""

    type: Literal["output_text"]
    text: str
    annotations: list[Annotation]
    logprobs: list[Logprob] | None = None


class Refusal(RequestModel):
    type: Literal["refusal"]
    refusal: str


class MediaPart(RequestModel):
    """Images, files and audio: recognised so the refusal names them, never rendered."""

    model_config = ConfigDict(extra="allow")
    type: Literal["input_image", "input_file", "input_audio"]


ContentPart = Annotated[InputText | OutputText | Refusal | MediaPart, Field(discriminator="type")]


class ToolOutputText(InputText):
    """Text in a function call's output, where the spec (InputTextContentParam) also takes a null breakpoint."""

    prompt_cache_breakpoint: Nullable[PromptCacheBreakpoint] = None


InputPart = Annotated[ToolOutputText | MediaPart, Field(discriminator="type")]  # what a tool's output may hold


# --- input items ---------------------------------------------------------------------------------


class MessageItem(RequestModel):
    """Both the "easy" message (no type, string content) and the typed input/output message."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    phase: Nullable[Literal["commentary", "final_answer"]] = None


class FunctionCallItem(RequestModel):
    type: Literal["function_call"]
    call_id: Annotated[str, Field(min_length=1)]
    name: str
    arguments: str
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    namespace: str | None = None


class FunctionCallOutputItem(RequestModel):
    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: str | list[InputPart]
    id: Nullable[str] = None
    status: Nullable[Literal["in_progress", "completed", "incomplete"]] = None


# The keys of the spec's EasyInputMessage, the one item whose `type` may be left out.
EASY_MESSAGE_KEYS = frozenset({"role", "content", "phase"})


def _message_by_default(value: Any) -> Any:
    """An item without a type is an "easy" input message (`{"role": "user", "content": "..."}`).

    Only if it has nothing an easy message lacks: with an `id` or a `status` it could as well be an
    item reference or a typed message (the spec's `oneOf` matches several), so its type must be given.
    """
    if isinstance(value, dict) and "type" not in value and value.keys() <= EASY_MESSAGE_KEYS:
        return {"type": "message", **value}
    return value


InputItem = Annotated[
    MessageItem | FunctionCallItem | FunctionCallOutputItem,
    Field(discriminator="type"),
    BeforeValidator(_message_by_default),
]


# --- options -------------------------------------------------------------------------------------


class Reasoning(RequestModel):
    effort: Nullable[Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]] = None
    summary: Nullable[Literal["auto", "concise", "detailed"]] = None
    generate_summary: Nullable[Literal["auto", "concise", "detailed"]] = None
    mode: str | None = None
    context: Nullable[Literal["auto", "current_turn", "all_turns"]] = None


class FormatText(RequestModel):
    type: Literal["text"]


class FormatJsonObject(RequestModel):
    type: Literal["json_object"]


class FormatJsonSchema(RequestModel):
    type: Literal["json_schema"]
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: Nullable[bool] = None


TextFormat = Annotated[FormatText | FormatJsonObject | FormatJsonSchema, Field(discriminator="type")]


class TextConfig(RequestModel):
    format: TextFormat | None = None
    verbosity: Nullable[Literal["low", "medium", "high"]] = None


class StreamOptions(RequestModel):
    include_obfuscation: bool | None = None


class CreateResponseRequest(RequestModel):
    """`POST /v1/responses`. Fields the server cannot honour are rejected by the planner."""

    model: str
    input: str | list[InputItem] | None = None
    instructions: Nullable[str] = None
    previous_response_id: Nullable[str] = None
    max_output_tokens: Nullable[Annotated[int, Field(ge=16, le=INT64_MAX)]] = None
    temperature: Nullable[Annotated[float, Field(ge=0, le=2)]] = None
    top_p: Nullable[Annotated[float, Field(ge=0, le=1)]] = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    reasoning: Nullable[Reasoning] = None
    text: TextConfig | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: Nullable[bool] = None
    max_tool_calls: Nullable[Annotated[int, Field(ge=1)]] = None
    store: Nullable[bool] = None
    stream: Nullable[bool] = None
    stream_options: Nullable[StreamOptions] = None
    include: Nullable[list[str]] = None
    truncation: Nullable[Literal["auto", "disabled"]] = None

    # Accepted because they change nothing a single local model could honour differently.
    metadata: Nullable[Annotated[dict[str, Annotated[str, Field(max_length=512)]], Field(max_length=16)]] = None
    user: str | None = None
    safety_identifier: Nullable[Annotated[str, Field(max_length=64)]] = None
    prompt_cache_key: Nullable[str] = None
    prompt_cache_retention: Nullable[Literal["in_memory", "24h"]] = None
    service_tier: Nullable[Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"]] = None

    # Part of the API but not implemented: the planner answers 400 when they are given.
    background: Nullable[bool] = None
    conversation: Nullable[str | dict[str, Any]] = None
    prompt: Nullable[dict[str, Any]] = None
    context_management: Nullable[list[dict[str, Any]]] = None
    moderation: Nullable[dict[str, Any]] = None
    image: dict[str, Any] | None = None
    access_programs: dict[str, Any] | None = None
    prompt_cache_options: PromptCacheOptions | None = None
