"""`POST /v1/embeddings` requests: the schema, and the checks that need the model in hand.

The four shapes of `input` follow `CreateEmbeddingRequest` in the OpenAPI spec. Token ids are strict
integers (pydantic would otherwise take `true` or `"12"` for one), and every input is checked against
the model (vocabulary, tokens per input, tokens per request) before anything is computed, so a bad
request costs nothing and names the offending element.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from .embedding_engine import EmbeddingShape
from .errors import APIError, invalid_value
from .request_model import RequestModel

MAX_INPUTS = 2048
MAX_TOKENS_PER_REQUEST = 300_000  # OpenAI's limit on the sum over all inputs

TokenIds = Annotated[list[StrictInt], Field(min_length=1, max_length=MAX_INPUTS)]
EmbeddingInput = (
    StrictStr
    | Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_INPUTS)]
    | TokenIds
    | Annotated[list[Annotated[list[StrictInt], Field(min_length=1)]], Field(min_length=1, max_length=MAX_INPUTS)]
)


class EmbeddingRequest(RequestModel):
    """The body of `POST /v1/embeddings`."""

    model: str
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None

    def texts(self) -> list[str] | None:
        """The inputs when they are text (one string or a list), else None."""
        if isinstance(self.input, str):
            return [self.input]
        if self.input and isinstance(self.input[0], str):
            return [str(s) for s in self.input]
        return None

    def token_inputs(self) -> list[list[int]] | None:
        """The inputs when they are token ids (one list or a list of lists), else None."""
        if isinstance(self.input, str) or not self.input or isinstance(self.input[0], str):
            return None
        if isinstance(self.input[0], int):
            return [[int(t) for t in self.input]]  # type: ignore[union-attr]
        return [list(ids) for ids in self.input]  # type: ignore[union-attr]

    def input_param(self, index: int) -> str:
        """How `param` names input number `index`: `input` for a lone input, else `input[i]`."""
        single = isinstance(self.input, str) or isinstance(self.input[0], int)
        return "input" if single else f"input[{index}]"


def check_text(request: EmbeddingRequest, texts: list[str]) -> None:
    for i, text in enumerate(texts):
        if not text:
            param = request.input_param(i)
            raise invalid_value(param, f"Invalid '{param}': empty string. Every input must contain some text.")


def check_dimensions(request: EmbeddingRequest, shape: EmbeddingShape) -> None:
    if request.dimensions is not None and request.dimensions > shape.dimensions:
        raise invalid_value(
            "dimensions",
            f"Invalid value for 'dimensions': this model's embeddings have {shape.dimensions} dimensions, "
            f"so at most {shape.dimensions} can be requested, not {request.dimensions}.",
        )


def check_tokens(request: EmbeddingRequest, inputs: list[list[int]], shape: EmbeddingShape) -> None:
    """Every id in the vocabulary, every input within the context, the total within the request limit."""
    for i, tokens in enumerate(inputs):
        param = request.input_param(i)
        if not tokens:
            raise invalid_value(param, f"Invalid '{param}': it contains no tokens.")
        bad = next((t for t in tokens if not 0 <= t < shape.n_vocab), None)
        if bad is not None:
            raise invalid_value(
                param, f"Invalid token id {bad} in '{param}': this model's token ids are 0 to {shape.n_vocab - 1}."
            )
        if len(tokens) > shape.n_ctx:
            raise APIError(
                400,
                f"This model's maximum context length is {shape.n_ctx} tokens, however you requested "
                f"{len(tokens)} tokens ({len(tokens)} in '{param}'). Please reduce the length of the input.",
                param=param,
                code="context_length_exceeded",
            )
    total = sum(len(t) for t in inputs)
    if total > MAX_TOKENS_PER_REQUEST:
        raise APIError(
            400,
            f"Requested {total} tokens in total, max {MAX_TOKENS_PER_REQUEST} tokens per request.",
            param="input",
            code="max_tokens_per_request",
        )
