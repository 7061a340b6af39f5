"""Unit vectors into OpenAI's embeddings answer: `dimensions`, the two encodings, usage.

The answer is built with the `openai` package's `CreateEmbeddingResponse`. Its `embedding` field is
typed as a list of floats, so base64 strings are put in after dumping. Both encodings carry the same
float32 numbers: the JSON floats are printed with the 9 significant digits that round-trip a float32
exactly, and base64 is those float32s, little-endian, as OpenAI sends them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from openai.types import CreateEmbeddingResponse, Embedding
from openai.types.create_embedding_response import Usage


def shorten(vector: np.ndarray, dimensions: int | None) -> np.ndarray:
    """The first `dimensions` components, scaled back to unit length (OpenAI's `dimensions`)."""
    if dimensions is None or dimensions >= len(vector):
        return vector
    prefix = vector[:dimensions]
    norm = float(np.linalg.norm(prefix))
    return prefix / norm if norm > 0 else prefix


def float_list(vector: np.ndarray) -> list[float]:
    return [float(f"{x:.9g}") for x in vector.astype(np.float32).tolist()]


def base64_floats(vector: np.ndarray) -> str:
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")


def embeddings_response(
    model: str,
    vectors: Sequence[np.ndarray],
    prompt_tokens: int,
    encoding_format: Literal["float", "base64"],
) -> dict[str, Any]:
    response = CreateEmbeddingResponse(
        object="list",
        model=model,
        data=[Embedding(object="embedding", index=i, embedding=float_list(v)) for i, v in enumerate(vectors)],
        usage=Usage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens),
    )
    body = response.model_dump(mode="json")
    if encoding_format == "base64":
        for item, vector in zip(body["data"], vectors, strict=True):
            item["embedding"] = base64_floats(vector)
    return body
