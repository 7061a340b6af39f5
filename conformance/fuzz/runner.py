"""Run schemathesis against a base URL and turn what it found into FuzzResults.

Three engine runs per call: valid requests (the overlay's positive document) and invalid ones (its
negative document), each with schemathesis' deterministic boundary-value phase (`coverage`) and
its property-based phase (`fuzzing`, `max_examples` per endpoint, shrinking failures to the
smallest request); then a short coercion run (valid requests with one parameter spelled as a
string, see conformance.fuzz.checks.before_call). Determinism comes from the seed and one worker; boundedness from
`max_examples`, the per-request timeout (a hang is a finding, never a hung run) and an overall
time budget shared by both runs.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder

import conformance.fuzz.checks as fuzz_checks
from conformance.api import resolve_model
from conformance.errors import UsageError
from conformance.fuzz.overlay import (
    Endpoint,
    Mode,
    UnknownEndpoint,
    build_spec,
    load_overlay,
    select_endpoints,
)
from conformance.fuzz.results import EndpointFuzzResult, FuzzCheck, FuzzFailure, FuzzResults, FuzzVerdict

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_TIME_BUDGET = 1800.0
EXCERPT_CHARS = 1000
KEY_ENV = "$OPENAI_API_KEY"
ALL_MODES = (Mode.POSITIVE, Mode.NEGATIVE, Mode.COERCION)


def coercion_examples(max_examples: int) -> int:
    """The coercion run only needs a handful of requests: every one of them probes."""
    return max(5, max_examples // 4)


Progress = Callable[[str], None]


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


_TIMEOUT_MARKERS = ("timed out", "timeout")


def _redact(text: str, api_key: str | None) -> str:
    """Replayable without leaking: the key (or schemathesis' mask for it) becomes $OPENAI_API_KEY."""
    if api_key:
        text = text.replace(api_key, KEY_ENV)
    text = re.sub(r"'(Authorization: Bearer )(\[Filtered\]|\$OPENAI_API_KEY)'", r'"\1' + KEY_ENV + '"', text)
    return text


def _excerpt(content: bytes | None) -> str:
    if not content:
        return ""
    text = content.decode("utf-8", "replace")
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def _body(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


@dataclass
class _Tally:
    """Per-endpoint accumulation across both modes and all phases."""

    endpoint: Endpoint
    positive: int = 0
    negative: int = 0
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    # identity -> (request size, failure); the smallest reproducing request wins
    failures: dict[tuple[str, ...], tuple[int, FuzzFailure]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add_failure(self, identity: tuple[str, ...], failure: FuzzFailure) -> None:
        size = len(json.dumps(failure.request_body, default=str)) + len(failure.url)
        current = self.failures.get(identity)
        if current is None or size < current[0]:
            self.failures[identity] = (size, failure)

    def result(self) -> EndpointFuzzResult:
        failures = [
            f for _, f in sorted(self.failures.values(), key=lambda item: (item[1].mode, item[1].check))
        ]
        verdict = FuzzVerdict.FAIL if failures else (FuzzVerdict.ERROR if self.errors else FuzzVerdict.PASS)
        return EndpointFuzzResult(
            endpoint=self.endpoint.name,
            operation=self.endpoint.label,
            verdict=verdict,
            requests=self.positive + self.negative,
            positive_requests=self.positive,
            negative_requests=self.negative,
            failures=failures,
            errors=self.errors,
            duration_s=round(self.elapsed, 3),
        )


class _Collector:
    def __init__(self, selected: list[Endpoint], api_key: str | None, progress: Progress | None) -> None:
        self.by_label = {e.label: _Tally(e) for e in selected}
        self.api_key = api_key
        self.progress = progress
        self.stop_reason = "completed"

    def _tally(self, label: str | None) -> _Tally | None:
        return self.by_label.get(label or "")

    def scenario(self, mode: Mode, event: events.ScenarioFinished) -> None:
        recorder = event.recorder
        tally = self._tally(recorder.label)
        if tally is None:
            return
        sent = 0
        for case_id, interaction in recorder.interactions.items():
            if interaction.response is None:
                continue
            sent += 1
            if _case_mode(recorder, case_id, mode) is Mode.POSITIVE:
                tally.positive += 1
            else:
                tally.negative += 1
        tally.elapsed += event.elapsed_time
        for case_id, nodes in recorder.checks.items():
            for node in nodes:
                if node.failure_info is None:
                    continue
                self._record(
                    tally,
                    mode,
                    recorder,
                    case_id,
                    node.name,
                    node.failure_info.failure,
                    node.failure_info.code_sample,
                )
        if self.progress is not None and sent:
            self.progress(f"{tally.endpoint.name}: {mode.value} {event.phase.value}, {sent} requests")

    def _record(
        self,
        tally: _Tally,
        mode: Mode,
        recorder: ScenarioRecorder,
        case_id: str,
        check: str,
        failure: Failure,
        code_sample: str,
    ) -> None:
        run_mode = mode
        mode = _case_mode(recorder, case_id, mode)
        interaction = recorder.interactions.get(case_id)
        request = interaction.request if interaction is not None else None
        response = interaction.response if interaction is not None else None
        body = _body(request.body) if request else None
        message = failure.message
        coerced = {
            key: value
            for key, value in fuzz_checks.coerced_parameters(body).items()
            if not _takes_strings(tally.endpoint, key)
        }
        if check == FuzzCheck.ACCEPTED_INVALID and coerced:
            spelled = ", ".join(f"`{key}` as the string {value!r}" for key, value in coerced.items())
            message = (
                f"Sent {spelled} and it was accepted: the spec (and OpenAI) want a number or boolean there, "
                f"so a lenient parser coerced it.\n{message}"
            )
            # Schemathesis describes the case as generated (valid); our hook made it invalid.
            message = "\n".join(
                line for line in message.splitlines() if not line.startswith("Invalid component")
            )
        finding = FuzzFailure(
            endpoint=tally.endpoint.name,
            operation=tally.endpoint.label,
            mode=mode.value,
            check=check,
            title=failure.title,
            message=_redact(message, self.api_key),
            method=request.method if request else "",
            url=request.uri if request else "",
            request_body=body,
            status=response.status_code if response is not None else None,
            response_excerpt=_redact(
                _excerpt(response.content if response is not None else None), self.api_key
            ),
            curl=_redact(code_sample, self.api_key),
        )
        # Schemathesis keeps one failure per operation and kind; each run (valid, invalid, coerced)
        # finds its own, so a coerced number and a mutated body accepted are two findings.
        identity = (
            run_mode.value,
            mode.value,
            check,
            type(failure).__name__,
            getattr(failure, "_unique_key", ""),
        )
        tally.add_failure(identity, finding)

    def error(self, mode: Mode, event: events.NonFatalError) -> None:
        tally = self._tally(event.label)
        text = str(event.value)
        if tally is None:
            for each in self.by_label.values():
                each.errors.append(f"{mode.value}: {event.info.title}: {text[:300]}")
            return
        is_timeout = any(marker in text.lower() for marker in _TIMEOUT_MARKERS)
        if event.info.title == "Network Error" or is_timeout:
            check = FuzzCheck.TIMEOUT if is_timeout else FuzzCheck.NETWORK
            title = "No answer within the request timeout" if is_timeout else "Network error"
            curl = _redact(event.info.code_sample or "", self.api_key)
            finding = FuzzFailure(
                endpoint=tally.endpoint.name,
                operation=tally.endpoint.label,
                mode=mode.value,
                check=check.value,
                title=title,
                message=_redact(text[:500], self.api_key),
                curl=curl,
                method=tally.endpoint.method.upper(),
                request_body=_curl_body(curl),
            )
            tally.add_failure((mode.value, check.value), finding)
        else:
            tally.errors.append(f"{mode.value}: {event.info.title}: {_redact(text[:300], self.api_key)}")

    def fatal(self, mode: Mode, event: events.FatalError) -> None:
        for tally in self.by_label.values():
            tally.errors.append(
                f"{mode.value}: {type(event.exception).__name__}: {str(event.exception)[:300]}"
            )

    def finished(self, event: events.EngineFinished) -> None:
        reason = event.stop_reason.value
        if reason != "completed" and self.stop_reason == "completed":
            self.stop_reason = reason
        if reason == "server_unavailable":
            for tally in self.by_label.values():
                if "server stopped responding" not in tally.errors:
                    tally.errors.append("server stopped responding")


def _takes_strings(endpoint: Endpoint, parameter: str) -> bool:
    """Whether a valid request may carry a string in `parameter` (so "1" there is no coercion)."""
    request = load_overlay()["endpoints"][endpoint.name].get("request", {})
    schema = request.get("positive", {}).get("properties", {}).get(parameter)
    return schema is None or '"string"' in json.dumps(schema)


def _case_mode(recorder: ScenarioRecorder, case_id: str, default: Mode) -> Mode:
    """Whether the request as sent was valid: a hook's edit can turn a valid case invalid."""
    node = recorder.cases.get(case_id)
    meta = node.value.meta if node is not None else None
    if meta is None:
        return default
    return Mode.POSITIVE if meta.generation.mode.is_positive else Mode.NEGATIVE


def _curl_body(curl: str) -> Any:
    match = re.search(r" -d '(.*)'", curl, re.S)
    return _body(match.group(1).encode()) if match else None


def _consume(stream: Iterable[events.EngineEvent], mode: Mode, collector: _Collector) -> None:
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            collector.scenario(mode, event)
        elif isinstance(event, events.NonFatalError):
            collector.error(mode, event)
        elif isinstance(event, events.FatalError):
            collector.fatal(mode, event)
        elif isinstance(event, events.EngineFinished):
            collector.finished(event)


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

    `timeout` bounds the whole run (both modes); `request_timeout` bounds each request, so a hang
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
    collector = _Collector(selected, api_key, progress)
    for mode in modes:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            collector.stop_reason = "max_time"
            break
        config = schemathesis_config(
            base_url=base_url,
            mode=mode,
            seed=seed,
            max_examples=max_examples,
            request_timeout=request_timeout,
            api_key=api_key,
            coverage=coverage,
            error_statuses=error_statuses,
        )
        targets = selected
        if mode is Mode.COERCION:  # it spells body parameters as strings: endpoints without a body have none
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
            _consume(stream, mode, collector)
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
