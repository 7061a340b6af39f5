"""The results.json format: what a run found, case by case, with the evidence behind each verdict.

It is the contract between the runner (which produces it), the reports (which render it) and other
runs (which merge or diff it), so it is versioned and validated on load rather than trusted.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from conformance.fuzz.results import FuzzResults

FORMAT_VERSION = 1


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the server answered 2xx, but an expectation did not hold
    UNSUPPORTED = "unsupported"  # the server refused the parameter with a 4xx
    ERROR = "error"  # 5xx, timeout, connection failure, unparsable body
    SKIPPED = "skipped"  # not run; `reason` says why (e.g. its baseline failed)


class FailureKind(StrEnum):
    """Why a FAIL failed: it decides whether the cell is schema-invalid or accepted-but-ignored."""

    SCHEMA = "schema"  # body or chunk does not validate against the OpenAPI schema / SDK types
    BEHAVIOUR = "behaviour"  # valid shape, but the parameter had no (or the wrong) effect
    PROTOCOL = "protocol"  # HTTP/SSE framing: status codes, headers, data lines, [DONE]


class Exchange(BaseModel):
    """One HTTP request and what came back, trimmed for reports. Secrets are redacted before this."""

    label: str = ""  # "baseline", "probe", ...
    via: str = "httpx"  # "sdk" (the Python openai package), "node-sdk" (the npm one) or "httpx"
    method: str
    url: str
    request_headers: dict[str, str] = Field(default_factory=dict)
    request_body: Any = None
    status: int | None = None
    response_headers: dict[str, str] = Field(default_factory=dict)
    response_excerpt: str = ""  # body (or SSE text), truncated
    duration_s: float = 0.0  # wall time of this exchange: the server's share of the run
    error: str | None = None  # transport-level failure (timeout, refused, ...)


class CheckOutcome(BaseModel):
    expectation: str  # human-readable, e.g. "choices[0].message.content ends before stop string 'ab'"
    passed: bool
    detail: str = ""  # what was actually seen when it failed
    kind: FailureKind = FailureKind.BEHAVIOUR


class CaseResult(BaseModel):
    case_id: str
    endpoint: str  # e.g. "chat.completions"
    parameter: str  # the matrix row this case proves, e.g. "stop"
    title: str = ""
    profile: str = "core"  # "core" counts towards the OpenAI score; others (e.g. "vllm") are extensions
    verdict: Verdict
    reason: str = ""  # one line: the first failed expectation, the refusal, or why it was skipped
    failure_kind: FailureKind | None = None
    checks: list[CheckOutcome] = Field(default_factory=list)
    evidence: list[Exchange] = Field(default_factory=list)
    duration_s: float = 0.0
    sdk: str = "python"  # the official SDK that made the case's SDK calls ("python" or "node")


class CellState(StrEnum):
    SUPPORTED = "supported"
    IGNORED = "accepted but ignored"
    REJECTED = "rejected"
    BROKEN = "broken"
    SCHEMA_INVALID = "schema-invalid"
    UNTESTED = "untested"  # every case skipped: no evidence either way


class Cell(BaseModel):
    endpoint: str
    parameter: str
    profile: str = "core"
    state: CellState
    case_ids: list[str]
    summary: str = ""  # the reason of the case that decided the state


class RunInfo(BaseModel):
    provider: str
    base_url: str
    model: str
    tool_version: str
    started_at: datetime
    finished_at: datetime
    options: dict[str, Any] = Field(default_factory=dict)  # concurrency, timeout, only, exclude...


class RunResults(BaseModel):
    format_version: int = FORMAT_VERSION
    run: RunInfo
    cases: list[CaseResult]
    cells: list[Cell] = Field(default_factory=list)
    # `run --sdk python,node`: the cases with an SDK call, replayed through each SDK after the first
    # (same case ids; `cases` and the matrix come from the first SDK). See conformance.sdks.
    sdk_cases: list[CaseResult] = Field(default_factory=list)
    fuzz: FuzzResults | None = None  # the robustness section, when the run also fuzzed (run --fuzz N)

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for case in self.cases:
            out[case.verdict.value] += 1
        return out


class ResultsFileError(ValueError):
    """A results.json that is missing, not JSON, of another format version, or not of our shape."""


def save(results: RunResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> RunResults:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultsFileError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        found = data.get("format_version") if isinstance(data, dict) else None
        raise ResultsFileError(f"{path}: results format {found!r}, expected {FORMAT_VERSION}")
    try:
        return RunResults.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResultsFileError(f"{path}: not a results file ({where}: {first['msg']})") from exc
