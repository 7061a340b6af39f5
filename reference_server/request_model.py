"""The one base class of every request body model, so all endpoints read JSON the way OpenAI does.

OpenAI refuses unknown fields (a typo must not pass silently) and values of the wrong JSON type:
`"temperature": "0.5"`, `"stream": "true"` or `"n": "2"` are 400 `invalid_type`, not numbers and
booleans. Pydantic's lax mode would coerce them, so the models are strict. Strict mode still takes an
integer where a number is expected (`"temperature": 1`), as OpenAI does.

Leaving a parameter out and sending it as `null` are different things in OpenAI's spec: most optional
parameters may be omitted but not be null (`"user": null` is a 400). Python has one spelling for
both, `X | None = None`, so here that means "optional": an explicit null is refused unless the field
is declared `Nullable[X]`, as it is exactly where the spec allows null (tests/test_server_nullable.py
compares every model with the spec).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

T = TypeVar("T")


class _NullAllowed:
    """Field metadata: an explicit JSON null is a valid value (the spec's `nullable` / `type: null`)."""

    def __repr__(self) -> str:
        return "NULL_ALLOWED"


NULL_ALLOWED = _NullAllowed()

# `Nullable[X]`: X, or an explicit null. Give it a default (`= None`) if it may also be left out.
Nullable = Annotated[T | None, NULL_ALLOWED]


def accepts_null(model: type[BaseModel], field_name: str) -> bool:
    return NULL_ALLOWED in model.model_fields[field_name].metadata


_NULL_ERROR = PydanticCustomError("null_type", "this parameter cannot be null; leave it out to use its default")


@functools.cache
def _null_forbidden(model: type[BaseModel]) -> frozenset[str]:
    """The JSON keys of `model` that may be left out or set, but not set to null."""
    return frozenset(field.alias or name for name, field in model.model_fields.items() if not accepts_null(model, name))


class RequestModel(BaseModel):
    """Unknown fields, mistyped scalars and nulls where the spec has none are errors (`invalid_type`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_only_where_allowed(cls, data: Any) -> Any:
        # A model-level check, since pydantic allows no field validator on a union's discriminator
        # (`type`, `role`); the ValidationError's locations name the fields, as a field's own would.
        if not isinstance(data, dict):
            return data
        forbidden = _null_forbidden(cls)
        errors = [
            InitErrorDetails(type=_NULL_ERROR, loc=(key,), input=None)
            for key, value in data.items()
            if value is None and key in forbidden
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data

