"""Before any case runs: is each endpoint served, and does the server repeat its greedy answers?

Two facts every verdict after it depends on, measured once, alone, from specs/probes.yaml:
- an endpoint whose route answers 404/405 is not served: its cases are "rejected: endpoint not
  served" without being sent, instead of a cascade of skipped baselines;
- a server whose identical greedy requests give different answers (prefix caches, batching, hosted
  APIs) cannot be judged by checks that compare two answers; conformance.repeats reads this.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conformance import expressions, yamlfile
from conformance.errors import UsageError
from conformance.paths import specs_dir
from conformance.results import Repeatability


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Which cases it speaks for: its endpoint (default: the probe's name) and, for a route that only
    # some rows use (GET /models/{id}), those rows; no rows: every row of the endpoint.
    endpoint: str | None = None
    rows: list[str] = Field(default_factory=list)
    method: str = "POST"
    path: str
    json_: Any = Field(default=None, alias="json")
    calls: int = Field(default=3, ge=1, le=10)
    text: str | None = None  # ${...} over `body`: the generated text to compare between calls


def load_probes(path: Path | None = None) -> dict[str, Probe]:
    path = path or specs_dir() / "probes.yaml"
    try:
        raw = yamlfile.safe_load(path.read_text(encoding="utf-8")) or {}
        return {str(endpoint): Probe.model_validate(spec) for endpoint, spec in raw.items()}
    except (OSError, ValidationError, AttributeError) as exc:
        raise UsageError(f"{path}: not a probes file ({exc})") from exc


def not_served(status: int | None, body: Any, model: str) -> bool:
    """A 404/405/501 from the route itself, not "no such model" (which names the model or its param)."""
    if status not in (404, 405, 501):  # 501: "not implemented" (llama-server without --embeddings)
        return False
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if error.get("code") == "model_not_found" or error.get("param") == "model":
            return False
        if model and model in str(error.get("message", "")):
            return False
    elif isinstance(body, dict) and model and model in str(body.get("detail", "")):
        return False
    return True


async def measure(
    client: httpx.AsyncClient,
    base_url: str,
    api_key: str | None,
    model: str,
    endpoints: Iterable[str],
    timeout: float,
) -> dict[str, Repeatability]:
    """Keyed by probe name: an endpoint's own probe has the endpoint's name (see Probe.rows)."""
    probes = load_probes()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    found: dict[str, Repeatability] = {}
    wanted = set(endpoints)
    for name, probe in sorted(probes.items()):
        endpoint = probe.endpoint or name
        if endpoint not in wanted:
            continue
        request = expressions.render(probe.json_, {"model": model})
        path = str(expressions.render(probe.path, {"model": model}))
        record = Repeatability(endpoint=endpoint, rows=probe.rows)
        texts: list[str] = []
        for _ in range(probe.calls):
            try:
                response = await client.request(probe.method, base_url + path, json=request, headers=headers, timeout=timeout)
            except httpx.HTTPError as exc:
                record.detail = f"{probe.method} {path}: {type(exc).__name__}: {exc}"
                break
            record.status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if not_served(response.status_code, body, model):
                record.served = False
                record.detail = f"{probe.method} {path} answered HTTP {response.status_code}"
                break
            if response.status_code != 200 or probe.text is None:
                if response.status_code != 200:
                    record.detail = f"{probe.method} {path} answered HTTP {response.status_code}"
                break
            try:
                texts.append(str(expressions.render(probe.text, {"body": body, "model": model})))
            except expressions.ExpressionError as exc:
                record.detail = f"no generated text in the answer ({exc})"
                break
        record.calls = len(texts)
        record.distinct = len(set(texts))
        if record.calls >= 2:
            record.repeats = record.distinct == 1
        found[name] = record
    return found


def unserved(probes: dict[str, Repeatability], endpoint: str, parameter: str) -> Repeatability | None:
    """The probe that found this case's route missing, if one did."""
    for record in probes.values():
        if not record.served and record.covers(endpoint, parameter):
            return record
    return None
