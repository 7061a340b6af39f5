"""From a validated chat request to an engine job, with the checks that need the model in hand.

Schema validation (types, ranges) has already happened in pydantic; what remains are the rules that
involve several fields, the model's vocabulary or its context size, and refusing the parts of the
API this server does not implement instead of silently ignoring them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import GenerationRequest
from .errors import APIError, invalid_value
from .registry import ServedModel
from .sampling import SamplingParams
from .schemas import ChatCompletionRequest


@dataclass(frozen=True)
class ChatPlan:
    generation: GenerationRequest
    stream: bool
    include_usage: bool


def unsupported(param: str, what: str) -> APIError:
    return APIError(
        400, f"Unsupported parameter: '{param}' {what}", param=param, code="unsupported_parameter"
    )


def _reject_unimplemented(body: ChatCompletionRequest) -> None:
    if body.tools:
        raise unsupported("tools", "is not supported by this server yet.")
    if body.tool_choice is not None and body.tool_choice != "none":
        raise invalid_value("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
    if body.functions:
        raise unsupported("functions", "is not supported by this server yet.")
    if body.function_call is not None and body.function_call != "none":
        raise invalid_value("function_call", "Invalid value for 'function_call': only allowed when 'functions' are specified.")
    if body.response_format is not None and body.response_format.type != "text":
        kind = body.response_format.type
        raise unsupported("response_format", f"of type '{kind}' is not supported by this server yet.")
    if body.reasoning_effort is not None:
        raise unsupported("reasoning_effort", "is not supported with this model.")
    if body.audio is not None or (body.modalities and "audio" in body.modalities):
        raise unsupported("modalities" if body.audio is None else "audio", "audio output is not supported with this model.")
    if body.web_search_options is not None:
        raise unsupported("web_search_options", "is not supported with this model.")
    if body.moderation is not None:
        raise unsupported("moderation", "is not supported by this server.")


def _logit_bias(body: ChatCompletionRequest, n_vocab: int) -> dict[int, float]:
    bias: dict[int, float] = {}
    for key, value in (body.logit_bias or {}).items():
        try:
            token = int(key)
        except ValueError:
            raise invalid_value("logit_bias", f"Invalid key in 'logit_bias': {key!r} is not a token id.") from None
        if not 0 <= token < n_vocab:
            raise invalid_value(
                "logit_bias", f"Invalid key in 'logit_bias': token id {token} is outside the vocabulary (0..{n_vocab - 1})."
            )
        bias[token] = float(value)
    return bias


def _max_tokens(body: ChatCompletionRequest) -> int | None:
    limits = [v for v in (body.max_tokens, body.max_completion_tokens) if v is not None]
    return min(limits) if limits else None


def _check_context(prompt_tokens: int, max_tokens: int | None, n_ctx: int) -> None:
    if prompt_tokens >= n_ctx:
        raise APIError(
            400,
            f"This model's maximum context length is {n_ctx} tokens. However, your messages resulted in "
            f"{prompt_tokens} tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        )
    if max_tokens is not None and prompt_tokens + max_tokens > n_ctx:
        raise APIError(
            400,
            f"This model's maximum context length is {n_ctx} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
            "completion). Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        )


def plan_chat(body: ChatCompletionRequest, model: ServedModel) -> ChatPlan:
    """Validate everything that is left and render the prompt; raises APIError for the client."""
    _reject_unimplemented(body)
    stream = bool(body.stream)
    if body.stream_options is not None and not stream:
        raise invalid_value(
            "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
    logprobs = bool(body.logprobs)
    if body.top_logprobs and not logprobs:
        raise invalid_value("top_logprobs", "'top_logprobs' requires 'logprobs' to be set to true.")
    engine = model.engine
    sampling = SamplingParams(
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        logit_bias=_logit_bias(body, engine.n_vocab),
        seed=body.seed,
    )
    prompt_tokens = engine.tokenize(model.template.render(body.messages))
    max_tokens = _max_tokens(body)
    _check_context(len(prompt_tokens), max_tokens, engine.n_ctx)
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    generation = GenerationRequest(
        prompt_tokens=prompt_tokens,
        sampling=sampling,
        max_tokens=max_tokens,
        stop=tuple(stop),
        n=body.n or 1,
        logprobs=logprobs,
        top_logprobs=body.top_logprobs or 0,
    )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return ChatPlan(generation=generation, stream=stream, include_usage=include_usage)
