"""Load and vet the YAML case files: the suite is data, this is its grammar.

A case file holds cases for one endpoint and, optionally, `shared` baseline calls that several cases
compare against (each runs once per run). A case is a list of steps; each step is one call (an SDK
method with params, or raw HTTP) with expectations. Steps before the last are baselines by default:
if a baseline does not hold, the case is skipped rather than failed, because the parameter under
test was never exercised. Top-level keys starting with `x-` are free for YAML anchors.

Everything is checked when the file loads (field names, expressions, schema names, SDK methods), so a
typo is a UsageError naming the file and the field, not a surprise halfway through a run.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from conformance import expressions, openapi, shapes, yamlfile
from conformance.errors import UsageError
from conformance.paths import default_cases_dir
from conformance.results import FailureKind
from conformance.sse import FRAMING_CHECKS

RESERVED_NAMES = {"model", *expressions.FUNCTIONS}
# Subjects say what an expectation looks at; predicates say what must hold of it.
SUBJECTS = ("status", "header", "schema", "sse", "field", "value", "that", "json")
PREDICATES = (
    "equals", "not_equals", "matches", "not_matches", "exists", "type", "count", "length", "le", "lt",
    "ge", "gt", "one_of", "contains", "not_contains", "startswith", "prefix_of", "join_equals",
    "all_equal", "is_json", "validates", "json_schema", "each", "offsets_of", "shape", "all_in", "in_order",
)  # fmt: skip
_NEEDS_PREDICATE = {"field", "value", "header"}
JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Range(_Strict):
    min: int | None = None
    max: int | None = None


class Expectation(_Strict):
    """One thing that must hold. Exactly one subject; `field`, `value` and `header` take predicates."""

    status: int | str | list[int | str] | None = None  # 200, "4xx", [400, 422]
    header: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    sse: str | None = None
    field: str | None = None  # a path into this step's answer: body.choices[0].message.content
    value: str | None = None  # a ${...} expression over earlier steps
    that: str | None = None  # a ${...} boolean expression; `why` should say what it means
    json_: bool | None = Field(default=None, alias="json")  # the body parses as JSON

    equals: Any = None
    not_equals: Any = None
    matches: str | None = None
    not_matches: str | None = None
    exists: bool | None = None
    type: str | list[str] | None = None
    count: int | Range | str | None = None  # list length (or an object's key count): 3, {min: 1}, ${...}
    length: int | Range | str | None = None  # string length
    le: Any = None
    lt: Any = None
    ge: Any = None
    gt: Any = None
    one_of: list[Any] | None = None
    contains: Any = None
    not_contains: Any = None
    startswith: str | None = None
    prefix_of: str | None = None  # the value is a prefix of this (e.g. a truncated baseline)
    join_equals: str | None = None  # a list of strings that joins to this
    all_equal: bool | None = None
    is_json: bool | None = None
    validates: str | None = None  # a spec component schema
    json_schema: dict[str, Any] | str | None = None  # an inline JSON Schema (or ${...}); strings are parsed first
    each: Expectation | None = None  # predicates applied to every element of a list
    offsets_of: str | list[str] | None = None  # start offsets of these strings laid end to end (text_offset)
    shape: Any = None  # a recorded JSON-type skeleton (conformance.shapes): fields present and their types
    all_in: list[Any] | None = None  # every value at a [*] path is one of these (and there is one)
    in_order: list[Any] | None = None  # these items occur in this order (repeats collapsed, extras allowed)

    kind: FailureKind | None = None
    why: str | None = None
    # Does this check need the server to repeat itself? "same": it compares this answer with another
    # generated answer and holds when they agree; "differ": it holds when they differ; "none": it does
    # not depend on repeats (ids, token counts). Unset: "same" (or "differ" for not_* predicates) when
    # it refers to another step or shared baseline, else "none". On a server whose greedy answers do
    # not repeat, such checks are retried and then judged inconclusive (conformance.repeats).
    compare: Literal["same", "differ", "none"] | None = None
    # The matrix row this check is about when it is not the case's own (e.g. `n` inside a stream
    # case): its failure lands on that row, and the case's own row is judged without it.
    row: str | None = None
    # A field the spec makes optional: its absence is noted in the report, never a failure.
    optional: bool = False

    @model_validator(mode="after")
    def _shape(self) -> Expectation:
        given = self.model_fields_set
        subjects = [s for s in SUBJECTS if (s if s in type(self).model_fields else f"{s}_") in given]
        predicates = [p for p in PREDICATES if p in given]
        if len(subjects) > 1:
            raise ValueError(f"one subject per expectation, got {', '.join(subjects)}")
        if subjects and subjects[0] in _NEEDS_PREDICATE and not predicates:
            raise ValueError(f"'{subjects[0]}' needs a predicate such as equals, matches, exists")
        if subjects and subjects[0] not in _NEEDS_PREDICATE and predicates:
            raise ValueError(f"'{subjects[0]}' takes no predicate (got {', '.join(predicates)})")
        if not subjects and not predicates:
            raise ValueError(f"an expectation needs one of: {', '.join(SUBJECTS)}")
        if self.type is not None:
            bad = [t for t in ([self.type] if isinstance(self.type, str) else self.type) if t not in JSON_TYPES]
            if bad:
                raise ValueError(f"unknown type {bad[0]!r}; use one of {', '.join(sorted(JSON_TYPES))}")
        if self.sse is not None and self.sse not in FRAMING_CHECKS:
            raise ValueError(f"unknown sse check {self.sse!r}; use one of {', '.join(FRAMING_CHECKS)}")
        return self

    @property
    def subject(self) -> str | None:
        given = self.model_fields_set
        return next((s for s in SUBJECTS if (s if s in type(self).model_fields else f"{s}_") in given), None)

    @property
    def predicates(self) -> list[str]:
        return [p for p in PREDICATES if p in self.model_fields_set]


class HttpCall(_Strict):
    """A raw request, for what the SDK cannot send (malformed JSON, odd headers) or hides."""

    method: str = "POST"
    path: str  # relative to the base URL: /chat/completions
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    body: str | None = None  # sent verbatim (e.g. broken JSON)
    auth: bool = True  # send the run's API key

    @model_validator(mode="after")
    def _one_body(self) -> HttpCall:
        if "json_" in self.model_fields_set and self.body is not None:
            raise ValueError("give either json or body, not both")
        if not self.path.startswith("/"):
            raise ValueError("path must start with /")
        return self


class Step(_Strict):
    name: str | None = None
    sdk: str | None = None  # e.g. chat.completions.create; `model` is filled in unless given
    params: dict[str, Any] = Field(default_factory=dict)
    http: HttpCall | None = None
    expect: list[Expectation] = Field(default_factory=list)
    baseline: bool | None = None  # default: every step but the last

    @model_validator(mode="after")
    def _one_call(self) -> Step:
        if (self.sdk is None) == (self.http is None):
            raise ValueError("a step needs exactly one of 'sdk' or 'http'")
        if self.http is not None and self.params:
            raise ValueError("'params' belong to sdk steps; put an http step's body under http.json")
        return self


class CaseSpec(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    endpoint: str | None = None
    parameter: str
    title: str = ""
    profile: str | None = None
    require: list[Expectation] = Field(default_factory=list)  # preconditions on shared baselines
    steps: list[Step] = Field(min_length=1)


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    endpoint: str | None = None
    profile: str = "core"
    shared: dict[str, Step] = Field(default_factory=dict)
    cases: list[CaseSpec]

    @model_validator(mode="after")
    def _only_x_extras(self) -> CaseFile:
        extras = [k for k in (self.model_extra or {}) if not k.startswith("x-")]
        if extras:
            raise ValueError(f"unknown top-level key {extras[0]!r} (free keys must start with 'x-')")
        return self


@dataclass(frozen=True)
class SharedStep:
    key: str  # unique within a run: "<file stem>:<name>"
    name: str
    step: Step


@dataclass(frozen=True)
class Case:
    id: str
    endpoint: str
    parameter: str
    title: str
    profile: str
    steps: tuple[Step, ...]
    require: tuple[Expectation, ...]
    shared: tuple[SharedStep, ...]  # the shared baselines this case refers to
    source: Path

    @property
    def row(self) -> str:
        """The matrix row, also matched by --only/--exclude: `chat.completions/stop`."""
        return f"{self.endpoint}/{self.parameter}"

    def step_names(self) -> list[str]:
        return [step_name(s, i, len(self.steps)) for i, s in enumerate(self.steps)]


def step_name(step: Step, index: int, total: int) -> str:
    return step.name or ("probe" if index == total - 1 else f"step{index + 1}")


def is_baseline(step: Step, index: int, total: int) -> bool:
    return step.baseline if step.baseline is not None else index < total - 1


# ---------------------------------------------------------------------------------------------------


def load_file(path: Path) -> list[Case]:
    try:
        raw = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read case file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UsageError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: a case file is a mapping with a 'cases' list")
    try:
        parsed = CaseFile.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: {_describe(exc, raw)}") from exc
    try:
        return _build(parsed, path)
    except _CaseProblem as exc:
        raise UsageError(f"{path}: {exc}") from exc


_TYPE_TAGS = {"int", "str", "float", "bool", "dict", "list", "none"}


class _CaseProblem(ValueError):
    pass


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    errors = exc.errors()
    # a misspelt field usually also makes a required one "missing": name the misspelling
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = first["loc"]
    where = ""
    # pydantic names the union member it tried ("int", "Range"...): noise for a case author
    loc = tuple(p for p in loc if isinstance(p, int) or not (p[:1].isupper() or p in _TYPE_TAGS or "[" in p))
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    where = where.lstrip(".")
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = raw.get("cases")
        if isinstance(cases, list) and loc[1] < len(cases) and isinstance(cases[loc[1]], dict):
            where += f" (case {cases[loc[1]].get('id', '?')})"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown field '{loc[-1]}'"
    return f"{where or '<file>'}: {message}"


def _build(parsed: CaseFile, path: Path) -> list[Case]:
    shared = {}
    for name, step in parsed.shared.items():
        if name in RESERVED_NAMES:
            raise _CaseProblem(f"shared.{name}: '{name}' is a reserved name")
        _check_step(step, f"shared.{name}", available={"model"}, own=name)
        shared[name] = SharedStep(key=f"{path.stem}:{name}", name=name, step=step)
    cases = []
    seen: set[str] = set()
    for ci, spec in enumerate(parsed.cases):
        where = f"cases[{ci}] ({spec.id})"
        if spec.id in seen:
            raise _CaseProblem(f"{where}: duplicate case id")
        seen.add(spec.id)
        endpoint = spec.endpoint or parsed.endpoint
        if not endpoint:
            raise _CaseProblem(f"{where}: no endpoint (set it on the case or at the top of the file)")
        names = [step_name(s, i, len(spec.steps)) for i, s in enumerate(spec.steps)]
        clash = [n for n in names if n in shared or n in RESERVED_NAMES]
        if clash or len(set(names)) != len(names):
            raise _CaseProblem(f"{where}: step name {(clash or names)[0]!r} is reused or reserved")
        used: set[str] = set()
        available = {"model", *shared}
        for ri, exp in enumerate(spec.require):
            used |= _check_expectation(exp, f"{where}.require[{ri}]", available, in_step=False)
        for si, step in enumerate(spec.steps):
            used |= _check_step(step, f"{where}.steps[{si}]", available, own=names[si])
            available.add(names[si])
        cases.append(
            Case(
                id=spec.id,
                endpoint=endpoint,
                parameter=spec.parameter,
                title=spec.title,
                profile=spec.profile or parsed.profile,
                steps=tuple(spec.steps),
                require=tuple(spec.require),
                shared=tuple(shared[n] for n in sorted(used & set(shared))),
                source=path,
            )
        )
    return cases


def _check_step(step: Step, where: str, available: set[str], own: str) -> set[str]:
    used: set[str] = set()
    if step.sdk is not None:
        problem = sdk_call_problem(step.sdk, step.params)
        if problem:
            raise _CaseProblem(f"{where}.sdk: {problem}")
        used |= _check_templates(step.params, f"{where}.params", available)
    if step.http is not None:
        used |= _check_templates(step.http.model_dump(by_alias=True), f"{where}.http", available)
    for ei, exp in enumerate(step.expect):
        used |= _check_expectation(exp, f"{where}.expect[{ei}]", available | {own}, in_step=True)
    return used


def _check_expectation(exp: Expectation, where: str, available: set[str], in_step: bool) -> set[str]:
    subject = exp.subject
    if subject is None:
        raise _CaseProblem(f"{where}: an expectation needs one of: {', '.join(SUBJECTS)}")
    if exp.each is not None and exp.each.subject is not None:
        raise _CaseProblem(f"{where}.each: takes predicates only, not {exp.each.subject!r}")
    if not in_step and subject not in ("value", "that"):
        raise _CaseProblem(f"{where}: preconditions look at earlier answers: use 'value' or 'that'")
    if subject in ("value", "that"):
        source = exp.value if subject == "value" else exp.that
        if not isinstance(source, str) or not source.strip().startswith("${"):
            raise _CaseProblem(f"{where}.{subject}: must be a ${{...}} expression")
    if subject == "field":
        try:
            expressions.parse_path(exp.field or "")
        except expressions.ExpressionError as exc:
            raise _CaseProblem(f"{where}.field: {exc}") from exc
    if "shape" in exp.model_fields_set and shapes.problem(exp.shape):
        raise _CaseProblem(f"{where}: {shapes.problem(exp.shape)}")
    for schema_name in (exp.schema_, exp.validates):
        if schema_name is not None and schema_name not in openapi.schema_names():
            raise _CaseProblem(f"{where}: no schema {schema_name!r} in the OpenAPI spec")
    if exp.matches is not None or exp.not_matches is not None:
        try:
            re.compile(exp.matches or exp.not_matches or "")
        except re.error as exc:
            raise _CaseProblem(f"{where}: bad regular expression ({exc})") from exc
    used = _check_templates(exp.model_dump(by_alias=True, exclude_unset=True), where, available)
    return used


def _check_templates(value: Any, where: str, available: set[str]) -> set[str]:
    used: set[str] = set()
    for source in expressions.expressions_in(value):
        try:
            names = expressions.free_names(expressions.parse(source))
        except expressions.ExpressionError as exc:
            raise _CaseProblem(f"{where}: {exc}") from exc
        unknown = names - available
        if unknown:
            raise _CaseProblem(
                f"{where}: ${{{source}}} refers to {sorted(unknown)[0]!r}, which is not an earlier step, "
                f"a shared baseline or 'model'"
            )
        used |= names
    return used


@functools.cache
def sdk_probe_client() -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key="case-validation", base_url="http://127.0.0.1:9/v1", max_retries=0)


def sdk_call_problem(dotted: str, params: dict[str, Any]) -> str:
    """Why `client.<resources>.with_raw_response.<method>(**params)` cannot work, or "" when it can."""
    *resource_path, method = dotted.split(".")
    target: Any = sdk_probe_client()
    for part in resource_path:
        if part.startswith("_") or not hasattr(target, part):
            return f"the openai SDK has no method {dotted!r}"
        target = getattr(target, part)
    raw = getattr(target, "with_raw_response", None)
    function = getattr(raw, method, None) if raw is not None and not method.startswith("_") else None
    if not resource_path or not callable(function):
        return f"the openai SDK has no method {dotted!r}"
    accepted = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return ""
    unknown = sorted(k for k in params if "${" not in k and k not in accepted)
    if unknown:
        return f"{dotted} has no parameter {unknown[0]!r} (send non-standard ones in extra_body)"
    return ""


# ---------------------------------------------------------------------------------------------------


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=256)
def _load_file_cached(path: Path, mtime_ns: int, size: int) -> tuple[Case, ...]:
    """Cases are frozen, so a file is parsed once per content version (runs in one process repeat it)."""
    return tuple(load_file(path))


def load_cases(cases_dir: Path | None = None) -> list[Case]:
    directory = Path(cases_dir) if cases_dir else default_cases_dir()
    if directory.is_file():  # one case file, e.g. a cassette from `conformance record`
        return list(_load_file_cached(directory, *_stamp(directory)))
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such cases directory")
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise UsageError(f"{directory}: no *.yaml case files")
    cases: list[Case] = []
    where: dict[str, Path] = {}
    for path in files:
        for case in _load_file_cached(path, *_stamp(path)):
            if case.id in where:
                raise UsageError(f"{path}: case id {case.id!r} is also used in {where[case.id]}")
            where[case.id] = path
            cases.append(case)
    return cases


def matches(case: Case, pattern: str) -> bool:
    return fnmatch.fnmatchcase(case.id, pattern) or fnmatch.fnmatchcase(case.row, pattern)


def select(cases: Sequence[Case], only: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Case]:
    """Filter by glob patterns over case ids and `endpoint/parameter` rows."""
    only, exclude = list(only), list(exclude)
    for kind, patterns in (("--only", only), ("--exclude", exclude)):
        for pattern in patterns:
            if not pattern or not pattern.strip():
                raise UsageError(f"{kind}: empty pattern")
    for pattern in only:
        if not any(matches(c, pattern) for c in cases):
            raise UsageError(f"--only {pattern!r} matches no case id or endpoint/parameter row")
    chosen = [c for c in cases if not only or any(matches(c, p) for p in only)]
    return [c for c in chosen if not any(matches(c, p) for p in exclude)]


def list_cases(
    cases_dir: Path | None = None, only: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[Case]:
    return select(load_cases(cases_dir), only, exclude)



_DIFFER_PREDICATES = {"not_equals", "not_matches", "not_contains"}


def compare_mode(exp: Expectation, own: str) -> str:
    """How a check depends on the server repeating itself: "same", "differ" or "none" (see Expectation)."""
    if exp.compare is not None:
        return exp.compare
    names: set[str] = set()
    for source in expressions.expressions_in(exp.model_dump(by_alias=True, exclude_unset=True)):
        names |= expressions.free_names(expressions.parse(source))
    if not names - {"model", own}:
        return "none"
    return "differ" if _DIFFER_PREDICATES & set(exp.predicates) else "same"
