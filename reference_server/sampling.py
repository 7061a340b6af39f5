"""OpenAI sampling parameters as a llama.cpp sampler chain, and logprobs from the raw logits.

Everything per token runs in llama.cpp's C sampler chain; Python only computes logprobs, and only
when a request asks for them (from the last row of logits, so the context never needs
`logits_all`). A grammar (structured output, tool calls) is one more link of the chain.

vLLM's sampling extensions are accepted as top-level body fields (with the openai SDK: `extra_body`)
and mean what they mean on vLLM:

- `top_k` (int): keep the k most likely tokens; -1 or 0 keeps all.
- `min_p` (0..1): drop tokens less likely than `min_p` times the most likely one (after temperature).
- `repetition_penalty` (> 0, 1 = off): divide positive logits (multiply negative ones) of every token
  already in the prompt or the output (CTRL-style), on top of OpenAI's presence/frequency penalties,
  which count the output only.
- `stop_token_ids` (list of ids): stop when one of them is sampled; finish_reason `stop`. The token
  counts as generated, its text is left out unless `include_stop_str_in_output`.
- `ignore_eos` (bool): never end at end-of-text tokens: generation runs to `max_tokens` (or a stop).
  Not allowed together with a grammar, which ends at end-of-text by definition.
- `include_stop_str_in_output` (bool): keep the matched stop string (or stop token) in the output.

As on vLLM, at temperature 0 the answer is greedy and `top_k`, `min_p` and `top_p` change nothing.

Test-only: `REFERENCE_SERVER_GREEDY_NOISE=<scale>` in the environment adds Gaussian noise of that
scale to the logits before every token is chosen (`perturb_logits`), the way a different
floating-point order perturbs them on servers with prefix caches or batching. The server stays
correct and self-consistent (the chosen greedy token is the most likely one in its logprobs), but
greedy answers no longer repeat bit-exactly; the harness's tests use it to show its verdicts do not
need repeats.
"""

from __future__ import annotations

import ctypes
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import llama_cpp
import numpy as np
from llama_cpp import _internals

# See the module docstring: 0 (the default) is true greedy decoding.
GREEDY_NOISE = float(os.environ.get("REFERENCE_SERVER_GREEDY_NOISE") or 0.0)

# llama.cpp treats this seed value as "pick one at random", so user seeds are folded below it.
_RANDOM_SEED = 0xFFFFFFFF


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    seed: int | None = None
    top_k: int = 0  # 0: off (vLLM's -1 is normalised to 0)
    min_p: float = 0.0
    repetition_penalty: float = 1.0


def choice_seed(seed: int | None, choice: int) -> int:
    """The sampler seed for choice `choice`: reproducible with a user seed, random without one.

    Choices of one request get different seeds, or `n` > 1 would return n copies of one sample.
    """
    if seed is None:
        return random.randrange(_RANDOM_SEED)
    return (seed + choice) % _RANDOM_SEED


def build_sampler(
    params: SamplingParams,
    n_vocab: int,
    penalty_window: int,
    seed: int,
    *,
    prompt_tokens: Sequence[int] = (),
    banned: Sequence[int] = (),
    grammar: llama_cpp.llama_sampler_p | None = None,
) -> _internals.LlamaSampler:
    """The chain OpenAI's documentation describes: bias and penalties on the logits, then temperature,
    then nucleus filtering, then a draw (or argmax at temperature 0).

    vLLM's extras slot in where vLLM applies them: the repetition penalty with the other penalties
    (having seen the prompt), `min_p` and `top_k` after temperature. `banned` tokens can never be
    drawn (`ignore_eos`); `grammar`, a sampler from `grammar_sampler`, is owned by the chain from here on.
    """
    sampler = _internals.LlamaSampler()
    bias = dict(params.logit_bias)
    bias.update(dict.fromkeys(banned, -math.inf))
    if bias:
        sampler.add_logit_bias(n_vocab, bias)
    if params.presence_penalty or params.frequency_penalty:
        # Only sampled tokens are fed to the chain, so the counts cover the completion, as on OpenAI.
        sampler.add_penalties(
            n_vocab=n_vocab,
            penalty_last_n=penalty_window,
            penalty_repeat=1.0,
            penalty_freq=params.frequency_penalty,
            penalty_present=params.presence_penalty,
        )
    if params.repetition_penalty != 1.0:
        repeat = llama_cpp.llama_sampler_init_penalties(n_vocab, penalty_window, params.repetition_penalty, 0.0, 0.0)
        for token in prompt_tokens[-penalty_window:]:
            llama_cpp.llama_sampler_accept(repeat, token)
        llama_cpp.llama_sampler_chain_add(sampler.sampler, repeat)
    if grammar is not None:
        llama_cpp.llama_sampler_chain_add(sampler.sampler, grammar)
    if params.temperature <= 0.0:
        sampler.add_greedy()
        return sampler
    sampler.add_temp(params.temperature)
    if params.min_p > 0.0:
        sampler.add_min_p(params.min_p, 1)
    if params.top_k > 0:
        sampler.add_top_k(params.top_k)
    if params.top_p < 1.0:
        sampler.add_top_p(params.top_p, 1)
    sampler.add_dist(seed)
    return sampler


def grammar_sampler(
    vocab: llama_cpp.llama_vocab_p, text: str, triggers: Sequence[str] = ()
) -> llama_cpp.llama_sampler_p | None:
    """A llama.cpp grammar sampler (lazy when there are trigger patterns); None if the GBNF does not parse."""
    if not triggers:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
    else:
        patterns = (ctypes.c_char_p * len(triggers))(*(t.encode("utf-8") for t in triggers))
        sampler = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            vocab, text.encode("utf-8"), b"root", patterns, len(triggers), None, 0
        )
    return sampler or None


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log probability under the model, with the most likely alternatives."""

    token: int
    logprob: float
    top: list[tuple[int, float]]


def perturb_logits(ctx: llama_cpp.llama_context_p, n_vocab: int, i: int = -1) -> None:
    """Test-only GREEDY_NOISE (module docstring): in place, so sampling and logprobs both see it."""
    if GREEDY_NOISE > 0.0:
        logits = logits_at(ctx, i, n_vocab)
        logits += _NOISE.normal(0.0, GREEDY_NOISE, n_vocab).astype(np.float32)


_NOISE = np.random.default_rng()


def last_logits(ctx: llama_cpp.llama_context_p, n_vocab: int) -> np.ndarray:
    """The logits of the last decoded position, as a view (no copy)."""
    return logits_at(ctx, -1, n_vocab)


def logits_at(ctx: llama_cpp.llama_context_p, i: int, n_vocab: int) -> np.ndarray:
    """The logits of the `i`-th token of the last batch (which must have asked for them), as a view."""
    ptr = llama_cpp.llama_get_logits_ith(ctx, i)
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))


def token_logprob(logits: np.ndarray, token: int, top_n: int) -> TokenLogprob:
    """Log-softmax of the model's own distribution (before bias, penalties and temperature)."""
    shifted = logits - logits.max()
    log_norm = float(np.log(np.exp(shifted).sum()))
    top: list[tuple[int, float]] = []
    if top_n > 0:
        idx = np.argpartition(-shifted, top_n)[:top_n]
        idx = idx[np.argsort(-shifted[idx], kind="stable")]
        top = [(int(i), float(shifted[i]) - log_norm) for i in idx]
    return TokenLogprob(token=token, logprob=float(shifted[token]) - log_norm, top=top)
