"""`POST /v1/completions` requests: the body's model, and the plan that turns it into engine jobs.

The legacy endpoint takes raw text (no chat template): each prompt, whether a string or token ids,
becomes one engine job that samples `best_of` candidates; which `n` of them are returned, and how
the prompt is echoed, is decided when the answer is built. The rules that need the model in hand
(vocabulary, context size, fill-in-the-middle tokens) are checked here, before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StrictInt

from .chat_request import logit_bias_tokens, stream_requested, unsupported
from .engine import Engine, GenerationRequest
from .errors import APIError, invalid_value
from .registry import ServedModel
from .request_model import Nullable, RequestModel
from .sampling import SamplingParams
from .schemas import INT64_MAX, INT64_MIN, Penalty, StreamOptions

DEFAULT_MAX_TOKENS = 16  # the API's documented default for this endpoint
_DOCUMENT_SEPARATOR = "<|endoftext|>"  # what an empty prompt means, per OpenAI's documentation
_FIM_KEYS = ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id")

TokenIds = Annotated[list[StrictInt], Field(min_length=1)]


class CompletionRequest(RequestModel):
    """The body of `POST /v1/completions`, with the ranges of OpenAI's `CreateCompletionRequest`."""

    model: str
    # Required but nullable, as in the spec (null means an empty document).
    prompt: Nullable[str | list[str] | TokenIds | Annotated[list[TokenIds], Field(min_length=1)]]
    suffix: Nullable[str] = None
    max_tokens: Nullable[Annotated[int, Field(ge=0)]] = None
    temperature: Nullable[Annotated[float, Field(ge=0, le=2)]] = None
    top_p: Nullable[Annotated[float, Field(ge=0, le=1)]] = None
    n: Nullable[Annotated[int, Field(ge=1, le=128)]] = None
    best_of: Nullable[Annotated[int, Field(ge=0, le=20)]] = None
    logprobs: Nullable[Annotated[StrictInt, Field(ge=0, le=5)]] = None
    echo: Nullable[bool] = None
    stop: Nullable[str | Annotated[list[str], Field(min_length=1, max_length=4)]] = None
    seed: Nullable[Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]] = None
    presence_penalty: Nullable[Penalty] = None
    frequency_penalty: Nullable[Penalty] = None
    logit_bias: Nullable[dict[str, Annotated[float, Field(ge=-100, le=100)]]] = None
    user: str | None = None
    stream: Nullable[bool] = None
    stream_options: Nullable[StreamOptions] = None


@dataclass(frozen=True)
class PromptPlan:
    text: str  # what `echo` puts before the completion, and where text offsets start counting
    tokens: list[int]  # what the model reads
    shown_from: int  # leading tokens the server added (BOS): left out of echoed logprobs


@dataclass(frozen=True)
class CompletionPlan:
    prompts: list[PromptPlan]
    generations: list[GenerationRequest]  # one job per prompt, each sampling `best_of` candidates
    n: int
    best_of: int
    echo: bool
    logprobs: int | None  # None: no logprobs in the answer (they may still be computed for best_of)
    stream: bool
    include_usage: bool


def _document_start(engine: Engine) -> list[int]:
    """The tokens the model's tokenizer puts in front of any document (its BOS, if it wants one)."""
    if engine.metadata.get("tokenizer.ggml.add_bos_token") == "true" and engine.bos_token:
        return engine.tokenize(engine.bos_token)
    return []


def _empty_prompt(engine: Engine) -> list[int]:
    """Generate 'as if from the beginning of a new document': the separator token if the model has one."""
    separator = engine.tokenize(_DOCUMENT_SEPARATOR)
    if len(separator) == 1:
        return separator
    return engine.tokenize(engine.bos_token or engine.eos_token)


def _text_prompt(text: str, engine: Engine) -> PromptPlan:
    start = _document_start(engine)
    tokens = engine.tokenize(text) if text else []
    if not start and not tokens:
        return PromptPlan(text=text, tokens=_empty_prompt(engine), shown_from=1)
    return PromptPlan(text=text, tokens=start + tokens, shown_from=len(start))


def _token_prompt(ids: list[int], engine: Engine, param: str) -> PromptPlan:
    bad = next((t for t in ids if not 0 <= t < engine.n_vocab), None)
    if bad is not None:
        raise invalid_value(param, f"Invalid token id {bad} in '{param}': the vocabulary has ids 0..{engine.n_vocab - 1}.")
    text = b"".join(engine.token_bytes(t) for t in ids).decode("utf-8", errors="replace")
    return PromptPlan(text=text, tokens=list(ids), shown_from=0)


def _prompts(body: CompletionRequest, engine: Engine) -> list[PromptPlan]:
    prompt = body.prompt
    if prompt is None or isinstance(prompt, str):
        return [_text_prompt(prompt or "", engine)]
    if not prompt:
        raise invalid_value("prompt", "Invalid 'prompt': the list of prompts is empty.")
    texts = [p for p in prompt if isinstance(p, str)]
    if len(texts) == len(prompt):
        return [_text_prompt(p, engine) for p in texts]
    ids = [p for p in prompt if isinstance(p, int)]
    if len(ids) == len(prompt):
        return [_token_prompt(ids, engine, "prompt")]
    lists = [p for p in prompt if isinstance(p, list)]
    return [_token_prompt(p, engine, f"prompt[{i}]") for i, p in enumerate(lists)]


def _fill_in_the_middle(body: CompletionRequest, prompt: PromptPlan, engine: Engine) -> PromptPlan:
    """Prefix-suffix-middle order, as llama.cpp's infill does; only for models trained with FIM tokens."""
    ids = [engine.metadata.get(key) for key in _FIM_KEYS]
    if not all(ids):
        raise unsupported("suffix", "is not supported with this model: it has no fill-in-the-middle tokens.")
    pre, suf, mid = (int(str(i)) for i in ids)
    start = prompt.tokens[: prompt.shown_from]
    suffix = engine.tokenize(body.suffix or "")
    tokens = [*start, pre, *prompt.tokens[prompt.shown_from :], suf, *suffix, mid]
    return PromptPlan(text=prompt.text, tokens=tokens, shown_from=len(start))


def _check_context(prompts: list[PromptPlan], max_tokens: int, n_ctx: int) -> None:
    longest = max(len(p.tokens) for p in prompts)
    if longest + max_tokens > n_ctx:
        raise APIError(
            400,
            f"This model's maximum context length is {n_ctx} tokens, however you requested {longest + max_tokens} "
            f"tokens ({longest} in your prompt; {max_tokens} for the completion). Please reduce your prompt; or "
            "completion length.",
            param="prompt",
            code="context_length_exceeded",
        )


def plan_completion(body: CompletionRequest, model: ServedModel) -> CompletionPlan:
    """Validate what is left and tokenize the prompts; raises APIError for the client."""
    engine = model.engine
    stream = stream_requested(body.stream, body.stream_options)
    n = body.n or 1
    best_of = n if body.best_of is None else body.best_of
    if best_of < n:
        raise invalid_value("best_of", f"'best_of' ({best_of}) must be greater than or equal to 'n' ({n}).")
    if stream and best_of > n:
        raise invalid_value("best_of", "'best_of' greater than 'n' cannot be streamed: the best are only known at the end.")
    echo = bool(body.echo)
    prompts = _prompts(body, engine)
    if body.suffix:
        prompts = [_fill_in_the_middle(body, p, engine) for p in prompts]
        if echo:
            raise invalid_value("echo", "'echo' cannot be combined with 'suffix'.")
    max_tokens = DEFAULT_MAX_TOKENS if body.max_tokens is None else body.max_tokens
    _check_context(prompts, max_tokens, engine.n_ctx)
    sampling = SamplingParams(
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        logit_bias=logit_bias_tokens(body.logit_bias, engine.n_vocab),
        seed=body.seed,
    )
    stop = tuple([body.stop] if isinstance(body.stop, str) else body.stop or ())
    generations = [
        GenerationRequest(
            prompt_tokens=p.tokens,
            sampling=sampling,
            max_tokens=max_tokens,
            stop=stop,
            n=best_of,
            logprobs=body.logprobs is not None or best_of > n,  # best_of ranks candidates by logprob
            top_logprobs=body.logprobs or 0,
            prompt_logprobs=echo and body.logprobs is not None,
        )
        for p in prompts
    ]
    return CompletionPlan(
        prompts=prompts,
        generations=generations,
        n=n,
        best_of=best_of,
        echo=echo,
        logprobs=body.logprobs,
        stream=stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
