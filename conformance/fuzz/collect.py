"""Turn schemathesis' engine events into per-endpoint FuzzResults.

Each finding keeps the smallest request that showed it (schemathesis shrinks a failing request and
records every attempt), its curl command with the API key replaced by $OPENAI_API_KEY, and whether
the request was valid as sent (a hook's edit can make a generated valid request invalid).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from schemathesis.core.failures import Failure
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder

import conformance.fuzz.checks as fuzz_checks
from conformance.fuzz.overlay import Endpoint, Mode, load_overlay
from conformance.fuzz.results import EndpointFuzzResult, FuzzCheck, FuzzFailure, FuzzVerdict

EXCERPT_CHARS = 1000
KEY_ENV = "$OPENAI_API_KEY"

Progress = Callable[[str], None]

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
    """Per-endpoint accumulation across all modes and phases."""

    endpoint: Endpoint
    positive: int = 0
    negative: int = 0
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


class Collector:
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


def consume(stream: Iterable[events.EngineEvent], mode: Mode, collector: Collector) -> None:
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            collector.scenario(mode, event)
        elif isinstance(event, events.NonFatalError):
            collector.error(mode, event)
        elif isinstance(event, events.FatalError):
            collector.fatal(mode, event)
        elif isinstance(event, events.EngineFinished):
            collector.finished(event)
