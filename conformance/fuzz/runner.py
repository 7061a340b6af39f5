"""Run schemathesis against a base URL and turn what it found into FuzzResults.

Three engine runs per call: valid requests (the overlay's positive document) and invalid ones (its
negative document), each with schemathesis' deterministic boundary-value phase (`coverage`) and
its property-based phase (`fuzzing`, `max_examples` per endpoint, shrinking failures to the
smallest request); then a short coercion run (valid requests with one parameter spelled as a
string, see conformance.fuzz.checks.before_call). Determinism comes from the seed and one
worker; boundedness from `max_examples`, the per-request timeout (a hang is a finding, never a hung
run) and an overall time budget shared by the runs. conformance.fuzz.collect turns the engine's
events into FuzzResults.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.engine import from_schema

import conformance.fuzz.checks as fuzz_checks
from conformance.api import resolve_model
from conformance.errors import UsageError
from conformance.fuzz.collect import Collector, Progress, consume
from conformance.fuzz.overlay import (
    Mode,
    UnknownEndpoint,
    build_spec,
    load_overlay,
    select_endpoints,
)
from conformance.fuzz.results import FuzzResults

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_TIME_BUDGET = 1800.0
ALL_MODES = (Mode.POSITIVE, Mode.NEGATIVE, Mode.COERCION)


def coercion_examples(max_examples: int) -> int:
    """The coercion run only needs a handful of requests: every one of them probes."""
    return max(5, max_examples // 4)


def _checks_config(statuses: list[int], *, with_auth: bool) -> dict[str, Any]:
    errors = [str(s) for s in statuses]
    return {
        "not_a_server_error": {"enabled": True},
        # Refusals of valid requests; 5xx are reported once, by not_a_server_error.
        "positive_data_acceptance": {"enabled": True, "expected-statuses": ["2xx", "429", "5xx"]},
        "negative_data_rejection": {"enabled": True, "expected-statuses": [*errors, "5xx"]},
        "status_code_conformance": {"enabled": True},
        "ignored_auth": {"enabled": with_auth},
        # Replaced by conformance.fuzz.checks, which knows SSE chunks, the envelope and our schema policy.
        "response_schema_conformance": {"enabled": False},
        "content_type_conformance": {"enabled": False},
        # Not about OpenAI compatibility, or need state these endpoints do not have.
        "response_headers_conformance": {"enabled": False},
        "missing_required_header": {"enabled": False},
        "use_after_free": {"enabled": False},
        "ensure_resource_availability": {"enabled": False},
        "object_level_authorization": {"enabled": False},
        "unsupported_method": {"enabled": False},
        "allow_header_conformance": {"enabled": False},
        **{name: {"enabled": True} for name in fuzz_checks.OUR_CHECKS},
    }


def schemathesis_config(
    *,
    base_url: str,
    mode: Mode,
    seed: int,
    max_examples: int,
    request_timeout: float,
    api_key: str | None,
    coverage: bool,
    error_statuses: list[int],
    continue_on_failure: bool = False,
) -> schemathesis.Config:
    """What `schemathesis run` would read from schemathesis.toml, as a dict: nothing is read from disk.

    No `max-time`: schemathesis treats it as a target and keeps re-running the fuzzing phase until
    it is spent. The run is bounded by `max-examples` instead, and cut short by run_fuzz's timer.
    """
    data: dict[str, Any] = {
        "base-url": base_url.rstrip("/"),
        "seed": seed,
        "workers": 1,
        "request-timeout": request_timeout,
        "max-stream-events": 1000,
        "suppress-health-check": ["all"],
        "cache": {"enabled": False},
        "continue-on-failure": continue_on_failure,
        # Off: it would mask `max_tokens` and every other key containing "token". The one secret,
        # the API key, is replaced by $OPENAI_API_KEY in everything we keep (see _redact).
        "output": {"sanitization": {"enabled": False}},
        "generation": {"mode": mode.document.value, "max-examples": max_examples, "database": "none"},
        "phases": {
            "examples": {"enabled": False},  # the spec's examples name OpenAI's models
            # No values harvested from responses: generated text differs run to run, and the same
            # seed must send the same requests.
            "coverage": {"enabled": coverage, "extra-data-sources": {"responses": False}},
            "fuzzing": {"enabled": True, "extra-data-sources": {"responses": False}},
            "stateful": {"enabled": False},
        },
        "checks": _checks_config(error_statuses, with_auth=api_key is not None),
    }
    if api_key:
        data["auth"] = {"openapi": {"ApiKeyAuth": {"bearer": api_key}}}
    return schemathesis.Config.from_dict(data)


def run_fuzz(
    base_url: str,
    model: str | None = None,
    api_key: str | None = None,
    endpoints: list[str] | None = None,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int | None = None,
    timeout: float | None = DEFAULT_TIME_BUDGET,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    coverage: bool = True,
    continue_on_failure: bool = False,
    modes: tuple[Mode, ...] = ALL_MODES,
    progress: Progress | None = None,
) -> FuzzResults:
    """Fuzz `base_url` (ending in /v1) and say, per endpoint, what broke and how to replay it.

    `timeout` bounds the whole run (all modes); `request_timeout` bounds each request, so a hang
    or an endless stream is a finding. Raises UsageError for a bad endpoint name or a server whose
    model cannot be discovered.
    """
    if max_examples < 1:
        raise UsageError("--max-examples must be at least 1")
    try:
        selected = select_endpoints(endpoints)
    except UnknownEndpoint as exc:
        raise UsageError(str(exc)) from None
    model = resolve_model(base_url, api_key, model, timeout=min(max(request_timeout, 10.0), 30.0))
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    error_statuses = list(load_overlay()["error_statuses"])
    started_at = datetime.now(UTC)
    deadline = time.monotonic() + timeout if timeout else None
    collector = Collector(selected, api_key, progress)
    for mode in modes:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            collector.stop_reason = "max_time"
            break
        config = schemathesis_config(
            base_url=base_url,
            mode=mode,
            seed=seed,
            max_examples=coercion_examples(max_examples) if mode is Mode.COERCION else max_examples,
            request_timeout=request_timeout,
            api_key=api_key,
            coverage=coverage and mode is not Mode.COERCION,
            error_statuses=error_statuses,
            continue_on_failure=continue_on_failure,
        )
        targets = selected
        if mode is Mode.COERCION:  # it spells body parameters as strings: bodiless endpoints have none
            targets = [e for e in selected if load_overlay()["endpoints"][e.name].get("request")]
            if not targets:
                continue
        spec = build_spec(mode, model, targets, with_auth=api_key is not None)
        schema = schemathesis.openapi.from_dict(spec, config=config)
        stream = from_schema(schema).execute()
        timer = threading.Timer(remaining, stream.stop) if remaining is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            consume(stream, mode, collector)
        finally:
            if timer is not None:
                timer.cancel()
        if deadline is not None and time.monotonic() >= deadline:
            collector.stop_reason = "max_time"
            break
    return FuzzResults(
        base_url=base_url,
        model=model,
        seed=seed,
        max_examples=max_examples,
        coverage=coverage,
        request_timeout_s=request_timeout,
        time_budget_s=timeout,
        stop_reason=collector.stop_reason,
        schemathesis_version=schemathesis.__version__,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        endpoints=[tally.result() for tally in collector.by_label.values()],
    )
