"""The results.json format: what a run found, case by case, with the evidence behind each verdict.

It is the contract between the runner (which produces it), the reports (which render it) and other
runs (which merge or diff it), so it is versioned and validated on load rather than trusted.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from conformance.fuzz.results import FuzzResults
from conformance.providers import Profile

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 files (one axis) still load: their new fields take defaults


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the server answered 2xx, but an expectation did not hold
    UNSUPPORTED = "unsupported"  # the server refused the parameter with a 4xx
    ERROR = "error"  # 5xx, timeout, connection failure, unparsable body
    SKIPPED = "skipped"  # not run; `reason` says why (e.g. its baseline failed)
    # The case's checks compare answers, and this server's greedy answers do not repeat: neither a
    # pass nor a fail would be evidence. `reason` says which check and what the repeats were.
    INCONCLUSIVE = "inconclusive"


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
    row: str | None = None  # the matrix row it is about, when not its case's own (Expectation.row)


class WireState(StrEnum):
    """The second axis: is what came back on the wire what the spec (and the SDK) expect?"""

    STRICT = "strict"  # every answer validated against the OpenAPI schema and the SDK's types
    SPEC_VIOLATED = "spec-violated"  # the SDK accepts it, but the spec is violated (see violations)
    BREAKS_SDK = "breaks-sdk"  # the official SDK throws on it
    UNKNOWN = "unknown"  # no 2xx answer to judge (refused, broken, not run)


class Attributed(BaseModel):
    """A check of this case that failed on another row than the case's own (Expectation.row)."""

    row: str
    expectation: str
    detail: str = ""


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
    wire: WireState = WireState.UNKNOWN
    violations: list[str] = Field(default_factory=list)  # schema/SDK checks that failed: the wire axis
    notes: list[str] = Field(default_factory=list)  # optional fields omitted, retries, repeats seen
    attempts: int = 1  # >1: re-run because a check comparing answers failed (conformance.repeats)
    # Set when the case failed while other requests were in flight and passed when re-run alone: the
    # verdict is the one alone; this is what went wrong under concurrent requests.
    under_concurrency: str = ""
    attributed: list[Attributed] = Field(default_factory=list)


class CellState(StrEnum):
    SUPPORTED = "supported"
    IGNORED = "accepted but ignored"
    REJECTED = "rejected"
    BROKEN = "broken"
    SCHEMA_INVALID = "schema-invalid"  # version 1 files only: the wire axis now says this
    INCONCLUSIVE = "inconclusive"  # the evidence needs repeatable answers and this server has none
    UNTESTED = "untested"  # every case skipped: no evidence either way


class Cell(BaseModel):
    endpoint: str
    parameter: str
    profile: str = "core"
    state: CellState
    case_ids: list[str]
    summary: str = ""  # the reason of the case that decided the state
    wire: WireState = WireState.UNKNOWN  # the worst wire state over its cases
    violations: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    under_concurrency: list[str] = Field(default_factory=list)  # "case id: what failed" (see CaseResult)


class RunInfo(BaseModel):
    provider: str
    base_url: str
    model: str
    tool_version: str
    started_at: datetime
    finished_at: datetime
    options: dict[str, Any] = Field(default_factory=dict)  # concurrency, timeout, only, exclude...


class Repeatability(BaseModel):
    """Identical greedy requests sent at the start of the run (conformance.probes): does it repeat?"""

    endpoint: str
    rows: list[str] = Field(default_factory=list)  # the rows its route serves; empty: the whole endpoint
    served: bool = True  # False: the endpoint itself answered 404/405
    status: int | None = None
    calls: int = 0
    distinct: int = 0  # distinct answers among `calls`
    detail: str = ""  # why it was not measured, or the route that is not served
    # Set during the run too: a check comparing answers failed and then passed on a retry.
    repeats: bool | None = None

    def covers(self, endpoint: str, parameter: str) -> bool:
        """Does this probe speak for that row (its endpoint, and its rows when it names some)?"""
        return self.endpoint == endpoint and (not self.rows or parameter in self.rows)


class ChangeKind(StrEnum):
    """How a matrix cell moved from a baseline run to this one (conformance.compare says why)."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    CHANGED = "changed"  # different, but neither better nor worse (see conformance.compare)
    ADDED = "added"
    REMOVED = "removed"


CHANGE_ORDER = list(ChangeKind)  # how reports list them: regressions first


class Change(BaseModel):
    endpoint: str
    parameter: str
    profile: str = "core"
    kind: ChangeKind
    old: CellState | None = None
    new: CellState | None = None
    # The wire axis; None in comparisons recorded before it existed and for an absent side.
    old_wire: WireState | None = None
    new_wire: WireState | None = None
    # Passed alone but failed among concurrent requests (Cell.under_concurrency), on either side.
    old_concurrent: bool = False
    new_concurrent: bool = False
    evidence: str = ""  # why it changed: the deciding reason, or the violations for a wire move

    @property
    def row(self) -> str:
        return f"{self.endpoint}/{self.parameter}"


class Comparison(BaseModel):
    """The changes from a baseline run to a new one; regressions first (run --baseline, diff)."""

    baseline_provider: str
    baseline_model: str
    baseline_started_at: str
    baseline_path: str = ""
    unchanged: int = 0
    changes: list[Change]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.kind is ChangeKind.REGRESSION]

    def of_kind(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind is kind]

    def counts_line(self) -> str:
        parts = []
        for kind in CHANGE_ORDER:
            n = len(self.of_kind(kind))
            plural = "s" if n != 1 and kind in (ChangeKind.REGRESSION, ChangeKind.IMPROVEMENT) else ""
            parts.append(f"{n} {kind.value}{plural}")
        return ", ".join([*parts, f"{self.unchanged} unchanged"])


# Files written before the typed parts kept them in run.options under these keys.
_OPTION_PARTS = {"provider_profile": Profile, "baseline": Comparison}


class RunResults(BaseModel):
    format_version: int = FORMAT_VERSION
    run: RunInfo
    cases: list[CaseResult]
    cells: list[Cell] = Field(default_factory=list)
    # `run --sdk python,node`: the cases with an SDK call, replayed through each SDK after the first
    # (same case ids; `cases` and the matrix come from the first SDK). See conformance.sdks.
    sdk_cases: list[CaseResult] = Field(default_factory=list)
    fuzz: FuzzResults | None = None  # the robustness section, when the run also fuzzed (run --fuzz N)
    repeatability: list[Repeatability] = Field(default_factory=list)
    # Recorded so that every report rendered from results.json, now or later, merged or not, has
    # them without the profile or baseline file at hand.
    provider_profile: Profile | None = None  # run --provider NAME: the profile and its documented claims
    baseline: Comparison | None = None  # run --baseline OLD: what changed since OLD

    @model_validator(mode="before")
    @classmethod
    def _parts_from_options(cls, data: Any) -> Any:
        """Earlier files kept the profile and the baseline comparison in run.options: move them to
        their typed fields (an unreadable record is dropped, as those readers ignored it)."""
        run = data.get("run") if isinstance(data, dict) else None
        options = run.get("options") if isinstance(run, dict) else None
        if not isinstance(options, dict) or not _OPTION_PARTS.keys() & options.keys():
            return data
        data, options = dict(data), dict(options)
        for key, model in _OPTION_PARTS.items():
            raw = options.pop(key, None)
            if isinstance(raw, dict) and data.get(key) is None:
                with contextlib.suppress(ValidationError):
                    data[key] = model.model_validate(raw)
        data["run"] = {**run, "options": options}
        return data

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
    if not isinstance(data, dict) or data.get("format_version") not in READABLE_VERSIONS:
        found = data.get("format_version") if isinstance(data, dict) else None
        expected = " or ".join(str(v) for v in READABLE_VERSIONS)
        raise ResultsFileError(f"{path}: results format {found!r}, expected {expected}")
    try:
        return RunResults.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResultsFileError(f"{path}: not a results file ({where}: {first['msg']})") from exc
