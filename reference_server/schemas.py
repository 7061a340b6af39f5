"""Request bodies as pydantic models, with the ranges and shapes of OpenAI's published API.

The `openai` package only ships request *TypedDicts* (lazy `Iterable` fields, no ranges), so the
requests are modelled here; the bounds follow `specs/openai-openapi-subset.yaml` and the API's
documented limits, and the tests check them against that spec. Responses are never modelled here:
they are built with the `openai` package's own pydantic types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .request_model import Nullable, RequestModel

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# --- prompt caching (accepted: a single local model has no cache to steer) -------------------------


class PromptCacheBreakpoint(RequestModel):
    mode: Literal["explicit"]


class PromptCacheOptions(RequestModel):
    ttl: Literal["30m"] | None = None
    mode: Literal["implicit", "explicit"] | None = None


# --- content parts -------------------------------------------------------------------------------


class TextPart(RequestModel):
    type: Literal["text"]
    text: str
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None


class RefusalPart(RequestModel):
    type: Literal["refusal"]
    refusal: str


class ImagePart(RequestModel):
    type: Literal["image_url"]
    image_url: dict[str, Any]


class AudioPart(RequestModel):
    type: Literal["input_audio"]
    input_audio: dict[str, Any]


class FilePart(RequestModel):
    type: Literal["file"]
    file: dict[str, Any]


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]

TextContent = str | Annotated[list[TextPart], Field(min_length=1)]


# --- messages ------------------------------------------------------------------------------------


class SystemMessage(RequestModel):
    role: Literal["system"]
    content: TextContent
    name: str | None = None


class DeveloperMessage(RequestModel):
    role: Literal["developer"]
    content: TextContent
    name: str | None = None


class UserMessage(RequestModel):
    role: Literal["user"]
    content: str | Annotated[list[UserPart], Field(min_length=1)]
    name: str | None = None


class CalledFunction(RequestModel):
    name: str
    arguments: str  # JSON text, as the model wrote it


class FunctionToolCall(RequestModel):
    id: str
    type: Literal["function"]
    function: CalledFunction


class CustomToolCall(RequestModel):
    id: str
    type: Literal["custom"]
    custom: dict[str, Any]


ToolCall = Annotated[FunctionToolCall | CustomToolCall, Field(discriminator="type")]


class AssistantMessage(RequestModel):
    role: Literal["assistant"]
    content: Nullable[str | Annotated[list[AssistantPart], Field(min_length=1)]] = None
    refusal: Nullable[str] = None
    name: str | None = None
    audio: Nullable[dict[str, Any]] = None
    tool_calls: list[ToolCall] | None = None
    function_call: Nullable[dict[str, Any]] = None


class ToolMessage(RequestModel):
    role: Literal["tool"]
    content: TextContent
    tool_call_id: str


class FunctionMessage(RequestModel):
    role: Literal["function"]
    content: Nullable[str]
    name: str


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


# --- tools and response formats ------------------------------------------------------------------

FunctionName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]+$", min_length=1, max_length=64)]


class FunctionDefinition(RequestModel):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema; checked (and compiled) in tools.py
    strict: Nullable[bool] = None


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class CustomTool(RequestModel):
    type: Literal["custom"]
    custom: dict[str, Any]


Tool = Annotated[FunctionTool | CustomTool, Field(discriminator="type")]


class ToolChoiceFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function"]
    function: ToolChoiceFunction


class CustomToolChoice(RequestModel):
    type: Literal["custom"]
    custom: dict[str, Any]


class AllowedTools(RequestModel):
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class AllowedToolsChoice(RequestModel):
    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


ToolChoice = (
    Literal["none", "auto", "required"]
    | Annotated[NamedToolChoice | CustomToolChoice | AllowedToolsChoice, Field(discriminator="type")]
)


class TextFormat(RequestModel):
    type: Literal["text"]


class JsonObjectFormat(RequestModel):
    type: Literal["json_object"]


class JsonSchemaSpec(RequestModel):
    name: FunctionName
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: Nullable[bool] = None


class JsonSchemaFormat(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


# --- the request ---------------------------------------------------------------------------------


class StreamOptions(RequestModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


Penalty = Annotated[float, Field(ge=-2, le=2)]


class ChatCompletionRequest(RequestModel):
    """`POST /v1/chat/completions`. Fields the server cannot honour are rejected by the route."""

    model: str
    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Nullable[Annotated[int, Field(ge=1)]] = None
    max_completion_tokens: Nullable[Annotated[int, Field(ge=1)]] = None
    temperature: Nullable[Annotated[float, Field(ge=0, le=2)]] = None
    top_p: Nullable[Annotated[float, Field(ge=0, le=1)]] = None
    n: Nullable[Annotated[int, Field(ge=1, le=128)]] = None
    stop: Nullable[str | Annotated[list[str], Field(min_length=1, max_length=4)]] = None
    seed: Nullable[Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]] = None
    presence_penalty: Nullable[Penalty] = None
    frequency_penalty: Nullable[Penalty] = None
    logit_bias: Nullable[dict[str, Annotated[float, Field(ge=-100, le=100)]]] = None
    logprobs: Nullable[bool] = None
    top_logprobs: Nullable[Annotated[int, Field(ge=0, le=20)]] = None
    user: str | None = None
    stream: Nullable[bool] = None
    stream_options: Nullable[StreamOptions] = None

    # Accepted because they change nothing a single local model could honour differently.
    metadata: Nullable[dict[str, str]] = None
    store: Nullable[bool] = None
    service_tier: Nullable[Literal["auto", "default", "flex", "scale", "priority", "fast"]] = None
    safety_identifier: Nullable[Annotated[str, Field(max_length=64)]] = None
    prompt_cache_key: Nullable[str] = None
    prompt_cache_retention: Nullable[Literal["in_memory", "24h"]] = None
    prompt_cache_options: PromptCacheOptions | None = None
    modalities: Nullable[list[Literal["text", "audio"]]] = None
    verbosity: Nullable[Literal["low", "medium", "high"]] = None
    parallel_tool_calls: bool | None = None

    # Tools and structured output (constrained by a grammar: see tools.py and grammar.py).
    response_format: ResponseFormat | None = None
    tools: Annotated[list[Tool], Field(min_length=1)] | None = None
    tool_choice: ToolChoice | None = None

    # vLLM's sampling extensions (sent with the SDK's `extra_body`), documented in sampling.py.
    top_k: int | None = None
    min_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0.0)] | None = None
    stop_token_ids: list[Annotated[int, Field(ge=0)]] | None = None
    ignore_eos: bool | None = None
    include_stop_str_in_output: bool | None = None

    # Part of the API but not implemented by this server yet: the route answers 400 if they ask for
    # anything beyond the default behaviour.
    reasoning_effort: Nullable[Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]] = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    audio: Nullable[dict[str, Any]] = None
    prediction: Nullable[dict[str, Any]] = None
    web_search_options: dict[str, Any] | None = None
    moderation: Nullable[dict[str, Any]] = None
