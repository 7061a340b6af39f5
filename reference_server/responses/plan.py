"""From a validated Responses request to an engine job, with the rules that involve several fields.

Generation is the chat path's: the conversation becomes chat messages rendered by the model's chat
template, and the job runs on the same engine with the same sampler. What is particular to the
Responses API is settled here: the conversation a `previous_response_id` continues, the defaults
the response object echoes, and refusing what this server does not implement (400) rather than
ignoring it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chat_request import stream_requested, unsupported
from ..engine import GenerationRequest
from ..errors import APIError, invalid_value
from ..registry import ServedModel
from ..sampling import SamplingParams
from ..tools import ToolPlan
from .constraints import FunctionTool, function_tools, response_tools, text_grammar, tools_echo
from .conversation import Item, chat_messages, input_items
from .request import CreateResponseRequest, FormatText
from .store import StoredResponse

LOGPROBS_INCLUDE = "message.output_text.logprobs"
_KNOWN_INCLUDES = {
    LOGPROBS_INCLUDE,
    "reasoning.encrypted_content",
    "web_search_call.action.sources",
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
}


@dataclass(frozen=True)
class ResponsePlan:
    generation: GenerationRequest
    stream: bool
    store: bool
    logprobs: bool
    tools: ToolPlan | None  # the output is parsed for function calls
    input_items: list[Item]  # this request's input, as `input_items` lists it
    context: list[Item]  # the earlier turns' items followed by this input: what the prompt shows
    echo: dict[str, Any]  # request settings the response object repeats


def previous_not_found(response_id: str) -> APIError:
    return APIError(
        400,
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def _reject_unimplemented(body: CreateResponseRequest) -> None:
    if body.background:
        raise unsupported("background", "is not supported by this server.")
    if body.conversation is not None:
        raise unsupported("conversation", "is not supported by this server; use 'previous_response_id'.")
    if body.prompt is not None:
        raise unsupported("prompt", "(prompt templates) is not supported by this server.")
    for name in ("context_management", "moderation", "image", "access_programs", "prompt_cache_options"):
        if getattr(body, name) is not None:
            raise unsupported(name, "is not supported by this server.")
    for i, name in enumerate(body.include or []):
        if name not in _KNOWN_INCLUDES:
            raise invalid_value(
                f"include[{i}]", f"Invalid value: '{name}'. Supported values are: {', '.join(sorted(_KNOWN_INCLUDES))}."
            )
    stream_requested(body.stream, body.stream_options)  # refuses stream_options without stream


def _check_context(prompt_tokens: int, max_tokens: int | None, n_ctx: int) -> None:
    if prompt_tokens >= n_ctx or (max_tokens is not None and prompt_tokens + max_tokens > n_ctx):
        wanted = prompt_tokens + (max_tokens or 0)
        raise APIError(
            400,
            f"Your input exceeds the context window of this model: {n_ctx} tokens, but the input has "
            f"{prompt_tokens} tokens" + (f" and max_output_tokens asks for {max_tokens} more ({wanted} in all)." if max_tokens else "."),
            param="input",
            code="context_length_exceeded",
        )


_OMITTED_WHEN_UNSET = ("user", "safety_identifier", "prompt_cache_key")  # the spec allows no null for these


def _echo(body: CreateResponseRequest, store: bool, tools: list[FunctionTool]) -> dict[str, Any]:
    """What the response object says about the request, with OpenAI's defaults filled in."""
    echo = _echo_all(body, store, tools)
    return {k: v for k, v in echo.items() if not (k in _OMITTED_WHEN_UNSET and v is None)}


def _echo_all(body: CreateResponseRequest, store: bool, tools: list[FunctionTool]) -> dict[str, Any]:
    text_format = body.text.format if body.text and body.text.format else FormatText(type="text")
    reasoning = body.reasoning.model_dump(include={"effort", "summary"}) if body.reasoning else {"effort": None, "summary": None}
    return {
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": body.max_tool_calls,
        "metadata": body.metadata or {},
        "parallel_tool_calls": True if body.parallel_tool_calls is None else body.parallel_tool_calls,
        "previous_response_id": body.previous_response_id,
        "prompt_cache_key": body.prompt_cache_key,
        "reasoning": reasoning,
        "safety_identifier": body.safety_identifier,
        "service_tier": "default",
        "store": store,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "text": {
            "format": text_format.model_dump(mode="json", by_alias=True, exclude_none=True),
            "verbosity": (body.text.verbosity if body.text else None) or "medium",
        },
        "tool_choice": body.tool_choice if body.tool_choice is not None else "auto",
        "tools": tools_echo(tools),
        "top_logprobs": body.top_logprobs or 0,
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "truncation": body.truncation or "disabled",
        "user": body.user,
        "background": False,
    }


def plan_response(body: CreateResponseRequest, model: ServedModel, previous: StoredResponse | None) -> ResponsePlan:
    """Validate what is left and render the prompt; raises APIError for the client.

    `previous` is the stored response `previous_response_id` names (the route looks it up).
    """
    _reject_unimplemented(body)
    if body.previous_response_id is not None and previous is None:
        raise previous_not_found(body.previous_response_id)
    items = input_items(body.input)
    if not items and previous is None:
        raise APIError(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    store = True if body.store is None else body.store
    context = [*(previous.conversation if previous else []), *items]
    engine = model.engine
    tools = function_tools(body)
    setup = response_tools(body, tools)
    grammar = setup.plan.grammar if setup.plan else None
    output_format = text_grammar(body, context)
    if output_format is not None:
        if grammar is not None:
            raise unsupported("text.format", "together with 'tools' (unless 'tool_choice' is 'none') is not supported by this server.")
        grammar = output_format
    if grammar is not None and not engine.grammar_compiles(grammar):
        raise APIError(400, "The schema uses features this server cannot enforce.", param="tools" if setup.plan else "text.format")
    prefill = setup.plan.prefill if setup.plan else ""
    rendered = model.template.render(chat_messages(body.instructions, context), system_extra=setup.system_text, prefill=prefill)
    prompt_tokens = engine.tokenize(rendered)
    _check_context(len(prompt_tokens), body.max_output_tokens, engine.n_ctx)
    logprobs = LOGPROBS_INCLUDE in (body.include or [])
    generation = GenerationRequest(
        prompt_tokens=prompt_tokens,
        sampling=SamplingParams(
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
        ),
        max_tokens=body.max_output_tokens,
        logprobs=logprobs,
        top_logprobs=(body.top_logprobs or 0) if logprobs else 0,
        grammar=grammar,
    )
    return ResponsePlan(
        generation=generation,
        stream=bool(body.stream),
        store=store,
        logprobs=logprobs,
        tools=setup.plan,
        input_items=items,
        context=context,
        echo=_echo(body, store, tools),
    )
