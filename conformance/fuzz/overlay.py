"""Adapt the vendored OpenAI spec for fuzzing, in code, from the recorded overlay in overlay.yaml.

The upstream spec describes what OpenAI accepts, not what makes a useful fuzz target: its POST
operations document only 200 and 429, it requires a key, and generation from it would spend the
budget on dozens of parameters no compatible server implements, with unbounded `max_tokens`.
The overlay fixes that per operation, and builds two documents:

- positive: request bodies from the overlay's `positive` schema, a strict subset of the spec's, so
  every generated request is valid for the real API and cheap to serve;
- negative: request bodies from the spec's own schema cut down to `keep`, so whatever schemathesis
  generates outside it is invalid for the real API.

Both document the error envelope on every error status, pin the model to the served one, and carry
`x-conformance` on each operation (endpoint name and response schemas) for the checks.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from conformance import yamlfile
from conformance.openapi import load_spec

OVERLAY_PATH = Path(__file__).with_name("overlay.yaml")
MODEL_PLACEHOLDER = "$MODEL"
EXTENSION = "x-conformance"
_REF_PREFIX = "#/components/schemas/"
TOKEN_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class Mode(StrEnum):
    """Which requests an engine run sends, and so which document it fuzzes."""

    POSITIVE = "positive"  # valid requests (the positive document)
    NEGATIVE = "negative"  # invalid requests (the negative document)
    # Valid requests with one numeric or boolean parameter spelled as a string ("0.5", "true"),
    # which makes them invalid (see conformance.fuzz.checks.before_call): the positive document.
    COERCION = "coercion"

    @property
    def document(self) -> Mode:
        return Mode.NEGATIVE if self is Mode.NEGATIVE else Mode.POSITIVE


@dataclass(frozen=True)
class Endpoint:
    """One fuzzed operation, named like the SDK call (`chat.completions`) as in the rest of the harness."""

    name: str
    path: str  # relative to the base URL, e.g. /chat/completions
    method: str  # lower case
    response: str  # component schema of a 2xx JSON body
    stream_response: str | None = None  # component schema of each SSE `data:` chunk, when it streams

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


@functools.cache
def load_overlay(path: Path = OVERLAY_PATH) -> dict[str, Any]:
    with Path(path).open(encoding="utf-8") as fh:
        return yamlfile.safe_load(fh)


def endpoints(overlay: dict[str, Any] | None = None) -> list[Endpoint]:
    data = overlay if overlay is not None else load_overlay()
    return [
        Endpoint(
            name=name,
            path=entry["path"],
            method=entry["method"].lower(),
            response=entry["response"],
            stream_response=entry.get("stream_response"),
        )
        for name, entry in data["endpoints"].items()
    ]


class UnknownEndpoint(ValueError):
    pass


def select_endpoints(selectors: list[str] | None, overlay: dict[str, Any] | None = None) -> list[Endpoint]:
    """Endpoints by name (`chat.completions`) or path (`/v1/chat/completions`, `/chat/completions`)."""
    known = endpoints(overlay)
    if not selectors:
        return known
    chosen: list[Endpoint] = []
    for selector in selectors:
        wanted = selector.strip()
        path = wanted.removeprefix("/v1") if wanted.startswith("/v1/") else wanted
        matches = [e for e in known if wanted in (e.name, e.label) or path == e.path]
        if not matches:
            names = ", ".join(e.name for e in known)
            raise UnknownEndpoint(f"unknown endpoint {selector!r} (known: {names})")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _substitute(node: Any, model: str) -> Any:
    if isinstance(node, str):
        return model if node == MODEL_PLACEHOLDER else node
    if isinstance(node, list):
        return [_substitute(item, model) for item in node]
    if isinstance(node, dict):
        return {key: _substitute(value, model) for key, value in node.items()}
    return node


def _flatten_object(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Merge a request schema's `allOf` chain (the spec builds requests from shared parts) into one object."""
    if "$ref" in schema:
        return _flatten_object(components[schema["$ref"].removeprefix(_REF_PREFIX)], components)
    if "allOf" not in schema:
        return copy.deepcopy(schema)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in schema["allOf"]:
        flat = _flatten_object(part, components)
        properties.update(flat.get("properties", {}))
        required.extend(r for r in flat.get("required", []) if r not in required)
    return {"type": "object", "properties": properties, "required": required}


def negative_request_schema(entry: dict[str, Any], components: dict[str, Any], model: str) -> dict[str, Any]:
    """The spec's request schema limited to the kept parameters, with the model pinned."""
    request = entry["request"]
    flat = _flatten_object({"$ref": _REF_PREFIX + request["schema"]}, components)
    keep = request["keep"]
    missing = [name for name in keep if name not in flat["properties"]]
    if missing:
        raise ValueError(f"{request['schema']} has no properties {missing}: fix `keep` in the overlay")
    properties = {name: flat["properties"][name] for name in keep}
    if "model" in properties:
        properties["model"] = {"type": "string", "enum": [model]}
    return {
        "type": "object",
        "required": [name for name in flat.get("required", []) if name in keep],
        "properties": properties,
    }


def relaxed(schema: dict[str, Any], optional: list[str]) -> dict[str, Any]:
    """`schema` with the `optional` properties no longer required (they must exist in it)."""
    missing = [name for name in optional if name not in schema.get("required", [])]
    if missing:
        raise ValueError(f"request_gaps: {missing} are not required in the schema: fix the overlay")
    out = copy.deepcopy(schema)
    out["required"] = [name for name in schema["required"] if name not in optional]
    return out


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = components[node["$ref"].removeprefix(_REF_PREFIX)]
    return node


def _widened(
    schema: dict[str, Any], path: list[str], extra: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    """A copy of `schema` whose node at `path` also accepts `extra`; $refs on the way are inlined."""
    node = copy.deepcopy(_resolve(schema, components))
    if not path:
        return {"anyOf": [node, extra]}
    head, rest = path[0], path[1:]
    if isinstance(node.get(head), list):  # anyOf/0, allOf/1, ...
        index, rest = int(rest[0]), rest[1:]
        node[head][index] = _widened(node[head][index], rest, extra, components)
    else:
        node[head] = _widened(node[head], rest, extra, components)
    return node


def _flat(items: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        out.extend(_flat(item) if isinstance(item, list) else [item])
    return out


def derived_schemas(overlay: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The overlay's `derived_schemas`: spec schemas widened where OpenAI's answers leave them."""
    derived: dict[str, Any] = {}
    for name, entry in overlay.get("derived_schemas", {}).items():
        schema: dict[str, Any] = {"$ref": _REF_PREFIX + entry["from"]}
        for widen in _flat(entry["widen"]):
            schema = _widened(schema, widen["at"].split("/"), widen["with"], components)
        derived[name] = schema
    return derived


@functools.cache
def schemas_file(spec_path: Path | None = None, overlay_path: Path = OVERLAY_PATH) -> Path:
    """The spec's component schemas plus the derived ones, as a file conformance.openapi can load.

    The checks validate with conformance.openapi (one validator for the harness and the fuzzer),
    which resolves schema names in a spec file; this is that file, named by its content so that
    every run in a process (and every process) shares one parsed copy.
    """
    components = copy.deepcopy(load_spec(spec_path).get("components", {}).get("schemas", {}))
    components.update(derived_schemas(load_overlay(overlay_path), components))
    text = json.dumps({"components": {"schemas": components}}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "openai-conformance" / f"fuzz-schemas-{digest}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return path


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": f"{status}: OpenAI's error envelope",
        "content": {"application/json": {"schema": {"$ref": _REF_PREFIX + "ErrorResponse"}}},
    }


def build_spec(
    mode: Mode,
    model: str,
    selected: list[Endpoint] | None = None,
    *,
    with_auth: bool = False,
    overlay: dict[str, Any] | None = None,
    spec_path: Path | None = None,
) -> dict[str, Any]:
    """The OpenAPI document schemathesis fuzzes in `mode`: only the selected operations, adapted."""
    data = overlay if overlay is not None else load_overlay()
    source = load_spec(spec_path)  # cached and shared: read here, copied only where it is used
    components = {**source.get("components", {}).get("schemas", {})}
    for name, schema in data.get("components", {}).items():
        components[name] = _substitute(schema, model)
    for gap in data.get("request_gaps", []):  # this document only shapes requests: see the overlay
        components[gap["schema"]] = relaxed(components[gap["schema"]], gap["optional"])

    chosen = selected if selected is not None else endpoints(data)
    paths: dict[str, Any] = {}
    for endpoint in chosen:
        entry = data["endpoints"][endpoint.name]
        upstream = source["paths"][endpoint.path][endpoint.method]
        operation = {key: copy.deepcopy(value) for key, value in upstream.items() if key != "x-oaiMeta"}
        operation[EXTENSION] = {
            "endpoint": endpoint.name,
            "mode": mode.value,
            "schemas_file": str(schemas_file(spec_path)),
            "response": endpoint.response,
            "response_variants": entry.get("response_variants", []),
            "stream_response": endpoint.stream_response,
            "invalid_request_cap": entry.get("request", {}).get("invalid_request_cap"),
            "cap_keys": [k for k in entry.get("request", {}).get("keep", []) if k in TOKEN_CAPS],
        }
        pinned = _substitute(entry.get("path_parameters", {}), model)
        parameters = []
        for parameter in operation.get("parameters", []):
            parameter = copy.deepcopy(parameter)
            if parameter.get("in") == "path" and parameter["name"] in pinned:
                parameter["schema"] = pinned[parameter["name"]]
            parameters.append(parameter)
        if parameters:
            operation["parameters"] = parameters
        if "request" in entry:
            if mode.document is Mode.POSITIVE:
                body_schema = _substitute(entry["request"]["positive"], model)
            else:
                body_schema = negative_request_schema(entry, components, model)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        responses = {
            code: value for code, value in upstream.get("responses", {}).items() if code.startswith("2")
        }
        for status in data["error_statuses"]:
            responses[str(status)] = _error_response(status)
        operation["responses"] = responses
        # No key configured: the server under test is open, so no credentials are generated or expected.
        operation["security"] = upstream.get("security", source.get("security", [])) if with_auth else []
        paths.setdefault(endpoint.path, {})[endpoint.method] = operation

    spec = {key: copy.deepcopy(value) for key, value in source.items() if key not in _REBUILT}
    spec["paths"] = paths
    # Only the schemas the chosen operations reach: schemathesis loads a tenth of the spec.
    spec["components"] = {
        **{
            key: copy.deepcopy(value)
            for key, value in source.get("components", {}).items()
            if key != "schemas"
        },
        "schemas": {name: copy.deepcopy(components[name]) for name in sorted(_reachable(paths, components))},
    }
    if not with_auth:
        spec.pop("security", None)
    return spec


_REBUILT = ("paths", "components", "webhooks")


def _reachable(root: Any, components: dict[str, Any]) -> set[str]:
    """Names of the component schemas `root` refers to, directly or through other schemas."""
    seen: set[str] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                name = ref.removeprefix(_REF_PREFIX)
                if name not in seen and name in components:
                    seen.add(name)
                    pending.append(components[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen
