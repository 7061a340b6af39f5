"""From a validated chat request to an engine job, with the checks that need the model in hand.

Schema validation (types, ranges) has already happened in pydantic; what remains are the rules that
involve several fields, the model's vocabulary or its context size, and refusing the parts of the
API this server does not implement instead of silently ignoring them. Tools and response formats
become a grammar (chat_constraints.py); vLLM's sampling extensions are documented in sampling.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .chat_constraints import chat_tools, response_grammar
from .engine import GenerationRequest
from .errors import APIError, invalid_value
from .registry import ServedModel
from .sampling import SamplingParams
from .schemas import ChatCompletionRequest
from .tools import ToolPlan


@dataclass(frozen=True)
class ChatPlan:
    generation: GenerationRequest
    stream: bool
    include_usage: bool
    tools: ToolPlan | None = None  # the output is parsed for tool calls


def unsupported(param: str, what: str) -> APIError:
    return APIError(
        400, f"Unsupported parameter: '{param}' {what}", param=param, code="unsupported_parameter"
    )


def _reject_unimplemented(body: ChatCompletionRequest) -> None:
    if body.functions:
        raise unsupported("functions", "is not supported by this server yet.")
    if body.function_call is not None and body.function_call != "none":
        raise invalid_value("function_call", "Invalid value for 'function_call': only allowed when 'functions' are specified.")
    if body.reasoning_effort is not None:
        raise unsupported("reasoning_effort", "is not supported with this model.")
    if body.audio is not None or (body.modalities and "audio" in body.modalities):
        raise unsupported("modalities" if body.audio is None else "audio", "audio output is not supported with this model.")
    if body.web_search_options is not None:
        raise unsupported("web_search_options", "is not supported with this model.")
    if body.moderation is not None:
        raise unsupported("moderation", "is not supported by this server.")


def stream_requested(stream: bool | None, stream_options: object | None) -> bool:
    """Whether to stream; `stream_options` without `stream` is a 400 on every endpoint that streams."""
    if stream_options is not None and not stream:
        raise invalid_value("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    return bool(stream)


def logit_bias_tokens(bias: Mapping[str, float] | None, n_vocab: int) -> dict[int, float]:
    """`logit_bias` keyed by token id; a key that is not a token of this model's vocabulary is a 400.

    Shared by chat and legacy completions, which take the same map with the same rules.
    """
    out: dict[int, float] = {}
    for key, value in (bias or {}).items():
        try:
            token = int(key)
        except ValueError:
            raise invalid_value("logit_bias", f"Invalid key in 'logit_bias': {key!r} is not a token id.") from None
        if not 0 <= token < n_vocab:
            raise invalid_value(
                "logit_bias", f"Invalid key in 'logit_bias': token id {token} is outside the vocabulary (0..{n_vocab - 1})."
            )
        out[token] = float(value)
    return out


def _vllm_extras(body: ChatCompletionRequest, n_vocab: int) -> None:
    if body.top_k is not None and body.top_k < -1:
        raise invalid_value("top_k", f"Invalid value for 'top_k': must be -1 or 0 (all tokens) or at least 1, got {body.top_k}.")
    for token in body.stop_token_ids or []:
        if token >= n_vocab:
            raise invalid_value(
                "stop_token_ids", f"Invalid value in 'stop_token_ids': token id {token} is outside the vocabulary (0..{n_vocab - 1})."
            )


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
    stream = stream_requested(body.stream, body.stream_options)
    logprobs = bool(body.logprobs)
    if body.top_logprobs and not logprobs:
        raise invalid_value("top_logprobs", "'top_logprobs' requires 'logprobs' to be set to true.")
    engine = model.engine
    _vllm_extras(body, engine.n_vocab)
    tools = chat_tools(body)
    grammar = tools.plan.grammar if tools.plan else None
    output_format = response_grammar(body)
    if output_format is not None:
        if grammar is not None:
            raise unsupported(
                "response_format", "together with 'tools' (unless 'tool_choice' is 'none') is not supported by this server."
            )
        grammar = output_format
    if grammar is not None and not engine.grammar_compiles(grammar):
        raise APIError(400, "The schema uses features this server cannot enforce.", param="tools" if tools.plan else "response_format")
    if grammar is not None and body.ignore_eos:
        raise invalid_value(
            "ignore_eos", "'ignore_eos' cannot be combined with 'response_format' or tool calls, whose grammar ends the output."
        )
    sampling = SamplingParams(
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        logit_bias=logit_bias_tokens(body.logit_bias, engine.n_vocab),
        seed=body.seed,
        top_k=max(body.top_k or 0, 0),
        min_p=body.min_p or 0.0,
        repetition_penalty=1.0 if body.repetition_penalty is None else body.repetition_penalty,
    )
    prefill = tools.plan.prefill if tools.plan else ""
    prompt_tokens = engine.tokenize(model.template.render(body.messages, system_extra=tools.system_text, prefill=prefill))
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
        grammar=grammar,
        stop_token_ids=frozenset(body.stop_token_ids or ()),
        ignore_eos=bool(body.ignore_eos),
        include_stop_str=bool(body.include_stop_str_in_output),
    )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return ChatPlan(generation=generation, stream=stream, include_usage=include_usage, tools=tools.plan)
