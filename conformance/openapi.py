"""Validate response bodies and streamed chunks against the vendored OpenAI OpenAPI spec.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so `jsonschema` validates them directly once two
leftovers are normalised at load time (never by editing the vendored file, which stays byte-for-byte
traceable to upstream):

- 3.0-style `nullable: true` is not a 2020-12 keyword and would be silently ignored, rejecting
  `null` where the spec means to allow it; it becomes `anyOf: [<schema>, {type: null}]`.
- `additionalProperties: false` is dropped: a server that adds fields is still compatible (the SDKs
  ignore unknown fields), and we only judge missing required fields and wrong types.

`$ref`s resolve within the spec document through a `referencing` registry.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.paths import default_spec_path

SPEC_URI = "urn:openai-openapi"
_SCHEMA_PREFIX = "#/components/schemas/"


class SchemaNotFound(KeyError):
    """A case or test named a component schema that the spec does not define."""


class SchemaViolation(ValueError):
    """An instance does not validate; `errors` holds one readable line per violation."""

    def __init__(self, schema_name: str, errors: list[str]) -> None:
        self.schema_name = schema_name
        self.errors = errors
        super().__init__(f"not a valid {schema_name}: {errors[0]}" if errors else schema_name)


def _normalise(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _normalise(value) for key, value in node.items()}
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]
    if out.pop("nullable", False) is True:
        description = out.get("description")
        wrapped: dict[str, Any] = {"anyOf": [out, {"type": "null"}]}
        if description is not None:
            wrapped["description"] = description
        return wrapped
    return out


@functools.cache
def load_spec(path: Path | None = None) -> dict[str, Any]:
    """The parsed, normalised spec (cached: parsing the subset takes ~0.2 s, the full file ~2 s)."""
    spec_path = Path(path) if path else default_spec_path()
    with spec_path.open("rb") as fh:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        raw = yaml.load(fh, Loader=loader)  # a safe loader: the C one when available
    return _normalise(raw)


def schema_names(path: Path | None = None) -> list[str]:
    return sorted(load_spec(path).get("components", {}).get("schemas", {}))


@functools.cache
def _validator(schema_name: str, path: Path | None = None) -> Draft202012Validator:
    spec = load_spec(path)
    if schema_name not in spec.get("components", {}).get("schemas", {}):
        raise SchemaNotFound(schema_name)
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource(SPEC_URI, resource)
    return Draft202012Validator({"$ref": f"{SPEC_URI}{_SCHEMA_PREFIX}{schema_name}"}, registry=registry)


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{where or '<root>'}: {message}"


def schema_errors(instance: Any, schema_name: str, path: Path | None = None) -> list[str]:
    """Every violation, most relevant first, as `field.path: message` lines (empty when valid)."""
    errors = list(_validator(schema_name, path).iter_errors(instance))
    if not errors:
        return []
    first = best_match(errors)
    rest = sorted((e for e in errors if e is not first), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(first), *(_describe(e) for e in rest)]


def validate(instance: Any, schema_name: str, path: Path | None = None) -> None:
    """Raise SchemaViolation unless `instance` is a valid `schema_name` (e.g. CreateChatCompletionResponse)."""
    errors = schema_errors(instance, schema_name, path)
    if errors:
        raise SchemaViolation(schema_name, errors)
