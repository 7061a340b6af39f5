"""What a fuzz run found, per endpoint: the robustness section of results.json and the reports.

Kept free of schemathesis (and of conformance.results, which embeds it as `RunResults.fuzz`) so
that loading or rendering a results file never imports the fuzzing machinery.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class FuzzVerdict(StrEnum):
    PASS = "pass"  # every generated request answered as the checks demand
    FAIL = "fail"  # at least one finding
    ERROR = "error"  # could not be fuzzed (server unreachable, schema problem): no evidence either way


class FuzzCheck(StrEnum):
    """Why a request counts as a finding; the names schemathesis and our checks report under."""

    SERVER_ERROR = "not_a_server_error"  # 5xx
    TIMEOUT = "timeout"  # no complete answer within the request timeout (hang, endless stream)
    NETWORK = "network_error"  # connection reset, malformed HTTP
    REJECTED_VALID = "positive_data_acceptance"  # a valid request refused
    ACCEPTED_INVALID = "negative_data_rejection"  # an invalid request answered 2xx
    STATUS_CODE = "status_code_conformance"  # a status OpenAI never answers with
    ERROR_ENVELOPE = "openai_error_envelope"  # an error body that is not {"error": {...}}
    RESPONSE_SCHEMA = "openai_response_schema"  # a 2xx body or SSE chunk that violates the spec
    CONTENT_TYPE = "openai_content_type"  # JSON where SSE was asked for, or the reverse
    AUTH = "ignored_auth"  # a keyed server that answers without (or with a wrong) key
    OTHER = "other"


class FuzzFailure(BaseModel):
    """One distinct finding, with the smallest request that reproduces it."""

    endpoint: str  # e.g. "chat.completions"
    operation: str  # e.g. "POST /chat/completions"
    mode: str  # "positive" (valid request) or "negative" (invalid request)
    check: str  # a FuzzCheck value, or the name of another schemathesis check
    title: str
    message: str
    method: str = ""
    url: str = ""
    request_body: Any = None
    status: int | None = None
    response_excerpt: str = ""
    curl: str = ""  # replays the request; the API key, if any, is read from $OPENAI_API_KEY


class EndpointFuzzResult(BaseModel):
    endpoint: str
    operation: str
    verdict: FuzzVerdict
    requests: int = 0  # requests sent, valid and invalid, shrinking included
    positive_requests: int = 0
    negative_requests: int = 0
    failures: list[FuzzFailure] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # why it could not be (fully) fuzzed
    duration_s: float = 0.0

    @property
    def summary(self) -> str:
        if self.verdict is FuzzVerdict.PASS:
            return f"{self.requests} requests, no findings"
        if self.verdict is FuzzVerdict.FAIL:
            return f"{len(self.failures)} finding(s) in {self.requests} requests: {self.failures[0].title}"
        return self.errors[0] if self.errors else "not fuzzed"


class FuzzResults(BaseModel):
    base_url: str
    model: str
    seed: int  # rerun with the same seed (and server) to get the same requests
    max_examples: int  # per endpoint and mode, in the fuzzing phase (coverage cases come on top)
    coverage: bool = True  # whether schemathesis' deterministic boundary-value phase ran
    request_timeout_s: float
    time_budget_s: float | None = None
    stop_reason: str = "completed"  # "completed", "max_time" (budget spent), "server_unavailable"
    schemathesis_version: str = ""
    started_at: datetime
    finished_at: datetime
    endpoints: list[EndpointFuzzResult] = Field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    @property
    def total_failures(self) -> int:
        return sum(len(e.failures) for e in self.endpoints)

    @property
    def ok(self) -> bool:
        """No findings and nothing left unfuzzed (a spent time budget alone is not a failure)."""
        return all(e.verdict is FuzzVerdict.PASS for e in self.endpoints)


def regressions(old: FuzzResults | None, new: FuzzResults | None) -> list[str]:
    """Endpoints fuzzed clean in `old` that have findings (or could not be fuzzed) in `new`.

    Like matrix cells under `run --baseline`: an endpoint the old run did not fuzz is new, listed
    in the report but never a regression, so adding --fuzz to a gated job does not break it.
    """
    if old is None or new is None:
        return []
    before = {e.endpoint: e.verdict for e in old.endpoints}
    return [
        f"{e.endpoint}: robustness {before[e.endpoint].value} -> {e.verdict.value} ({e.summary})"
        for e in new.endpoints
        if e.verdict is not FuzzVerdict.PASS and before.get(e.endpoint) is FuzzVerdict.PASS
    ]
