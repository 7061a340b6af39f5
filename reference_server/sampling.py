"""OpenAI sampling parameters as a llama.cpp sampler chain, and logprobs from the raw logits.

Everything per token runs in llama.cpp's C sampler chain; Python only computes logprobs, and only
when a request asks for them (from the last row of logits, so the context never needs
`logits_all`).
"""

from __future__ import annotations

import ctypes
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import llama_cpp
import numpy as np
from llama_cpp import _internals

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


def choice_seed(seed: int | None, choice: int) -> int:
    """The sampler seed for choice `choice`: reproducible with a user seed, random without one.

    Choices of one request get different seeds, or `n` > 1 would return n copies of one sample.
    """
    if seed is None:
        return random.randrange(_RANDOM_SEED)
    return (seed + choice) % _RANDOM_SEED


def build_sampler(params: SamplingParams, n_vocab: int, penalty_window: int, seed: int) -> _internals.LlamaSampler:
    """The chain OpenAI's documentation describes: bias and penalties on the logits, then temperature,
    then nucleus filtering, then a draw (or argmax at temperature 0)."""
    sampler = _internals.LlamaSampler()
    if params.logit_bias:
        sampler.add_logit_bias(n_vocab, dict(params.logit_bias))
    if params.presence_penalty or params.frequency_penalty:
        # Only sampled tokens are fed to the chain, so the counts cover the completion, as on OpenAI.
        sampler.add_penalties(
            n_vocab=n_vocab,
            penalty_last_n=penalty_window,
            penalty_repeat=1.0,
            penalty_freq=params.frequency_penalty,
            penalty_present=params.presence_penalty,
        )
    if params.temperature <= 0.0:
        sampler.add_greedy()
        return sampler
    sampler.add_temp(params.temperature)
    if params.top_p < 1.0:
        sampler.add_top_p(params.top_p, 1)
    sampler.add_dist(seed)
    return sampler


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log probability under the model, with the most likely alternatives."""

    token: int
    logprob: float
    top: list[tuple[int, float]]


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
