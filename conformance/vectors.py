"""Vector helpers for `${...}` expressions, so embedding cases can compare answers with a tolerance.

Two embeddings of the same input from one server agree in direction but not always to the last bit
(batching, threads, a GPU), so cases compare with `cosine(a, b)` against a threshold and check length
with `norm`; base64 answers are turned back into floats with `b64floats` first. Each helper raises
ValueError for input it cannot judge, which fails the check that used it with the reason.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from typing import Any


def _numbers(vector: Any, what: str = "vector") -> list[float]:
    if not isinstance(vector, list) or not vector:
        raise ValueError(f"{what} is not a non-empty list of numbers: {str(vector)[:60]}")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
        bad = next(x for x in vector if not isinstance(x, int | float) or isinstance(x, bool))
        raise ValueError(f"{what} holds a non-number: {bad!r}")
    return [float(x) for x in vector]


def norm(vector: Any) -> float:
    """Euclidean length: 1 for the unit vectors OpenAI returns."""
    return math.sqrt(math.fsum(x * x for x in _numbers(vector)))


def norms(vectors: Any) -> list[float]:
    """The length of each vector in a list (every `embedding` of an answer)."""
    if not isinstance(vectors, list):
        raise ValueError(f"not a list of vectors: {str(vectors)[:60]}")
    return [norm(v) for v in vectors]


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity: 1 for the same direction, whatever the lengths."""
    x, y = _numbers(a, "first vector"), _numbers(b, "second vector")
    if len(x) != len(y):
        raise ValueError(f"vectors of different lengths ({len(x)} and {len(y)})")
    nx, ny = norm(x), norm(y)
    if nx == 0 or ny == 0:
        raise ValueError("a zero vector has no direction")
    return math.fsum(p * q for p, q in zip(x, y, strict=True)) / (nx * ny)


def b64floats(text: Any) -> list[float]:
    """A base64 embedding (little-endian float32, as OpenAI sends it) as a list of floats."""
    if not isinstance(text, str):
        raise ValueError(f"not a base64 string: {str(text)[:60]}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None
    if not raw or len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


FUNCTIONS: dict[str, Callable[..., Any]] = {"norm": norm, "norms": norms, "cosine": cosine, "b64floats": b64floats}
