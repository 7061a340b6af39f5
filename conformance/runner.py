"""Run cases against a server and turn what happened into verdicts.

Cases run concurrently, bounded by a semaphore, each under one deadline: a hung connection or an
endless stream becomes an `error` verdict with the partial answer as evidence, never a hung run.
Shared baselines run once per run and are awaited by every case that compares against them.

How a step's answer maps to a verdict:
- no answer / 5xx / a 2xx body that is not JSON: error
- 4xx where the case did not ask for an error: unsupported (the server refused the parameter)
- an expectation that does not hold: fail, with the worst failure kind (schema > protocol > behaviour),
  except that a wrong status decides alone (protocol): the other checks fail because of it
- any of the above on a baseline step or shared baseline: the case is skipped, naming the baseline,
  because the parameter under test was never exercised.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import openai

from conformance import calls, checks, expressions, node_sdk
from conformance.cases import Case, SharedStep, Step, compare_mode, is_baseline, step_name
from conformance.credentials import SECRET_HEADERS as _SECRET_HEADERS
from conformance.probes import unserved
from conformance.results import (
    Attributed,
    CaseResult,
    CheckOutcome,
    Exchange,
    FailureKind,
    Repeatability,
    Verdict,
    WireState,
)

_KIND_ORDER = [FailureKind.PROTOCOL, FailureKind.BEHAVIOUR]
ATTEMPTS = 3  # a case whose failing check compares two answers is run up to this many times
_CONNECTION_FAILED = "connection failed"  # calls.py's prefix for a transport failure that is not a timeout
# The check every 2xx answer to an SDK call gets: the SDK that made the call parsed it without throwing.
_SDK_ACCEPTS = {
    "sdk": "the openai SDK ({method}, strict validation) accepts the answer",
    node_sdk.VIA: "the openai node SDK ({method}) accepts the answer",
}


@dataclass
class Target:
    base_url: str  # ends without a slash, e.g. http://127.0.0.1:8080/v1
    model: str
    api_key: str | None = None
    timeout: float = 60.0  # per case
    concurrency: int = 4


@dataclass
class StepResult:
    outcome: calls.CallOutcome | None
    view: dict[str, Any] | None = None
    verdict: Verdict | None = None  # None: every expectation that decides the behaviour held
    kind: FailureKind | None = None
    problem: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # the wire axis: schema/SDK checks that failed
    sdk_broken: bool = False
    judged: bool = False  # an answer got as far as its checks
    notes: list[str] = field(default_factory=list)
    attributed: list[Attributed] = field(default_factory=list)
    same_failed: bool = False  # the deciding failure compares this answer with another one
    differ_passed: list[str] = field(default_factory=list)  # passed checks that only need answers to differ
    retried: list[calls.CallOutcome] = field(default_factory=list)  # attempts lost to a connection failure


@dataclass
class _Case:
    """What one attempt at a case gathered across its steps (and the shared baselines it used)."""

    checks: list[CheckOutcome] = field(default_factory=list)
    evidence: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    sdk_broken: bool = False
    judged: bool = False
    notes: list[str] = field(default_factory=list)
    attributed: list[Attributed] = field(default_factory=list)
    same_failed: bool = False
    differ_passed: list[str] = field(default_factory=list)

    def add(self, step: StepResult, label: str = "") -> None:
        for lost in step.retried:
            exchange = lost.exchange()
            exchange.label = f"{label or lost.label} (connection failed; retried on a fresh connection)"
            self.evidence.append(exchange)
        if step.outcome is not None:
            exchange = step.outcome.exchange()
            if label:
                exchange.label = label
            self.evidence.append(exchange)
        self.checks.extend(step.checks)
        self.violations += [v for v in step.violations if v not in self.violations]
        self.sdk_broken |= step.sdk_broken
        self.judged |= step.judged
        self.notes += [n for n in step.notes if n not in self.notes]
        self.attributed += step.attributed
        self.same_failed = step.same_failed if step.verdict is not None else self.same_failed
        self.differ_passed += step.differ_passed

    def wire(self) -> WireState:
        if self.sdk_broken:
            return WireState.BREAKS_SDK
        if self.violations:
            return WireState.SPEC_VIOLATED
        return WireState.STRICT if self.judged else WireState.UNKNOWN


class _NotReady(Exception):
    """A request could not be built from earlier answers (a field it needs is missing)."""


class Runner:
    """One run's connection pools and shared-baseline memo. Use as an async context manager.

    `sdk` names the official SDK that makes the cases' SDK calls: "python" (the openai package, in
    process) or "node" (the openai npm package, in a Node.js worker started on first use).
    `probes` is what conformance.probes measured before the run: endpoints not served, and whether
    greedy answers repeat (the runner adds what its retries show).
    """

    def __init__(self, target: Target, sdk: str = "python", probes: dict[str, Repeatability] | None = None) -> None:
        self.target = target
        self.sdk = sdk
        self.probes: dict[str, Repeatability] = probes if probes is not None else {}
        self._node = node_sdk.NodeWorker() if sdk == "node" else None
        self._pool: httpx2.AsyncHTTPTransport | None = None
        self._http: httpx.AsyncClient | None = None
        self._shared: dict[str, asyncio.Task[StepResult]] = {}
        self._stale: list[asyncio.Task[StepResult]] = []  # shared baselines of the concurrent phase
        self._pending: dict[str, tuple[bool, list[str]]] = {}  # case id -> (same_failed, differ_passed)

    def sdk_version(self) -> str:
        """The version of the SDK package that made this run's SDK calls ("" if none was made)."""
        if self._node is not None:
            return self._node.sdk_version or ""
        return openai.__version__

    async def __aenter__(self) -> Runner:
        limits_size = max(4, self.target.concurrency * 2)
        self._pool = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=limits_size))
        self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=limits_size))
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = [*self._shared.values(), *self._stale]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self._pool is not None:
            await self._pool.aclose()
        if self._node is not None:
            await self._node.close()

    async def run_all(
        self, cases: Sequence[Case], on_result: Callable[[CaseResult], None] | None = None
    ) -> list[CaseResult]:
        """Run every case; at concurrency > 1, every case that did not pass is run again alone.

        The verdict is the one alone, so `--concurrency 4` and `--concurrency 1` give the same
        behaviour; what went wrong among concurrent requests is kept as `under_concurrency`.
        """
        concurrent = self.target.concurrency > 1
        semaphore = asyncio.Semaphore(max(1, self.target.concurrency))

        async def one(case: Case) -> CaseResult:
            async with semaphore:
                result = await self.run_case(case)
            if on_result is not None and (not concurrent or result.verdict is Verdict.PASS):
                on_result(result)
            return result

        results = list(await asyncio.gather(*(one(c) for c in cases)))
        if concurrent:
            self._stale += self._shared.values()
            self._shared = {}  # baselines computed among concurrent requests are not reused alone
            for index, case in enumerate(cases):
                first = results[index]
                if first.verdict is Verdict.PASS:
                    continue
                if not self._endpoint_served(case):
                    alone = first
                else:
                    alone = await self.run_case(case)
                    if alone.verdict is Verdict.PASS:
                        alone.under_concurrency = f"{first.verdict.value}: {first.reason}"
                results[index] = alone
                if on_result is not None:
                    on_result(alone)
        return [self._settle(result) for result in results]

    def repeats(self, endpoint: str) -> bool | None:
        probe = self.probes.get(endpoint)
        return probe.repeats if probe is not None else None

    def _settle(self, result: CaseResult) -> CaseResult:
        """Judge checks that compare answers with everything the run learnt about repeats."""
        same_failed, differ_passed = self._pending.get(result.case_id, (False, []))
        if self.repeats(result.endpoint) is not False:
            return result
        probe = self.probes[result.endpoint]
        seen = f"{probe.distinct} distinct answers to {probe.calls} identical greedy requests" if probe.calls else (
            "a check comparing two answers failed and then passed on a retry"
        )
        if result.verdict is Verdict.FAIL and same_failed:
            result.verdict, result.failure_kind = Verdict.INCONCLUSIVE, None
            result.reason = (
                f"{result.reason} -- but this check compares two answers, and this server does not repeat "
                f"its greedy answers ({seen}), so it is no evidence either way"
            )
        elif result.verdict is Verdict.PASS and differ_passed:
            result.verdict = Verdict.INCONCLUSIVE
            result.reason = (
                f"passes only because two answers differ ({differ_passed[0]}), and this server's "
                f"greedy answers differ anyway ({seen})"
            )
        return result

    def _endpoint_served(self, case: Case) -> bool:
        return unserved(self.probes, case.endpoint, case.parameter) is None

    async def run_case(self, case: Case) -> CaseResult:
        """Run one case under its deadline, again (up to ATTEMPTS) while a check comparing answers fails."""
        missing = unserved(self.probes, case.endpoint, case.parameter)
        if missing is not None:
            result = _result(case, Verdict.UNSUPPORTED, f"endpoint not served: {missing.detail}", _Case())
            result.sdk = self.sdk
            return result
        started = time.monotonic()
        result, gathered = await self._attempt(case, self._shared)
        first_reason = result.reason
        attempts = 1
        while result.verdict is Verdict.FAIL and gathered.same_failed and attempts < ATTEMPTS:
            attempts += 1
            result, gathered = await self._attempt(case, {})  # its own, fresh shared baselines
        result.attempts = attempts
        if attempts > 1:
            if result.verdict is Verdict.PASS:
                result.notes.append(
                    f"passed on attempt {attempts} of {ATTEMPTS}: before, a check comparing two answers "
                    f"failed ({first_reason}); this server's answers do not repeat"
                )
                self._saw_no_repeat(case.endpoint)
            else:
                result.notes.append(f"failed {attempts} times: a check comparing two answers never held")
        self._pending[case.id] = (
            result.verdict is Verdict.FAIL and gathered.same_failed,
            gathered.differ_passed if result.verdict is Verdict.PASS else [],
        )
        result.duration_s = round(time.monotonic() - started, 3)
        result.sdk = self.sdk
        return redact(result, [self.target.api_key])

    def _saw_no_repeat(self, endpoint: str) -> None:
        probe = self.probes.setdefault(endpoint, Repeatability(endpoint=endpoint, detail="no probe"))
        probe.repeats = False

    async def _attempt(
        self, case: Case, shared: dict[str, asyncio.Task[StepResult]]
    ) -> tuple[CaseResult, _Case]:
        log: list[calls.CallOutcome] = []
        gathered = _Case()
        try:
            result = await asyncio.wait_for(self._run_case(case, log, shared, gathered), self.target.timeout)
        except TimeoutError:
            gathered.evidence = [o.exchange() for o in log]  # with the partial answer that timed out
            gathered.same_failed = False
            reason = f"no complete answer within {self.target.timeout:g}s (hung connection or endless stream)"
            result = _result(case, Verdict.ERROR, reason, gathered)
        except Exception as exc:  # a harness bug must not take the run down; say whose fault it is
            gathered = _Case(evidence=[o.exchange() for o in log])
            result = _result(case, Verdict.ERROR, f"internal error in the harness: {type(exc).__name__}: {exc}", gathered)
        return result, gathered

    async def _run_case(
        self,
        case: Case,
        log: list[calls.CallOutcome],
        memo: dict[str, asyncio.Task[StepResult]],
        got: _Case,
    ) -> CaseResult:
        names: dict[str, Any] = {"model": self.target.model}
        for shared in case.shared:
            outcome = await asyncio.shield(self._shared_result(case, shared, memo))
            got.add(outcome, label=f"shared:{shared.name}")
            if outcome.verdict is not None:
                reason = f"shared baseline '{shared.name}' did not hold: {outcome.problem}"
                return _result(case, Verdict.SKIPPED, reason, got)
            names[shared.name] = outcome.view
        unjudged = ""  # a precondition that could not even be evaluated on the baselines' answers
        for exp in case.require:
            check = checks.judge(exp, {}, names, None)
            got.checks.append(check)
            if not check.passed:
                reason = f"precondition not met: {check.expectation}: {check.detail}"
                if not check.detail.startswith(checks.UNEVALUATED):
                    return _result(case, Verdict.SKIPPED, reason, got)
                # The answers are malformed, not the model unsuitable: the case's own steps may still
                # show that (a fail decides); if they all hold, the case proves nothing and is skipped.
                unjudged = unjudged or reason
        total = len(case.steps)
        for index, step in enumerate(case.steps):
            name = step_name(step, index, total)
            baseline = is_baseline(step, index, total)
            try:
                outcome = await self._step(case.endpoint, step, name, names, log, case.parameter)
            except _NotReady as exc:
                return _result(case, Verdict.SKIPPED, f"cannot build step '{name}': {exc}", got)
            got.add(outcome)
            if outcome.verdict is not None:
                if baseline:
                    reason = f"baseline '{name}' did not hold: {outcome.problem}"
                    return _result(case, Verdict.SKIPPED, reason, got)
                return _result(case, outcome.verdict, outcome.problem, got, outcome.kind)
            names[name] = outcome.view
        if unjudged:
            return _result(case, Verdict.SKIPPED, unjudged, got)
        return _result(case, Verdict.PASS, "", got)

    def _shared_result(
        self, case: Case, shared: SharedStep, memo: dict[str, asyncio.Task[StepResult]]
    ) -> asyncio.Task[StepResult]:
        task = memo.get(shared.key)
        if task is None:
            task = asyncio.ensure_future(self._shared_step(case.endpoint, shared))
            memo[shared.key] = task
            if memo is not self._shared:
                self._stale.append(task)
        return task

    async def _shared_step(self, endpoint: str, shared: SharedStep) -> StepResult:
        log: list[calls.CallOutcome] = []
        try:
            return await asyncio.wait_for(
                self._step(endpoint, shared.step, shared.name, {"model": self.target.model}, log),
                self.target.timeout,
            )
        except TimeoutError:
            return StepResult(
                outcome=log[0] if log else None,
                verdict=Verdict.ERROR,
                problem=f"no complete answer within {self.target.timeout:g}s",
            )
        except _NotReady as exc:
            return StepResult(outcome=None, verdict=Verdict.ERROR, problem=str(exc))

    async def _step(
        self,
        endpoint: str,
        step: Step,
        name: str,
        names: dict[str, Any],
        log: list[calls.CallOutcome],
        parameter: str = "",
    ) -> StepResult:
        """One call and its judgement; a connection failure (not a timeout) is retried once."""
        lost: list[calls.CallOutcome] = []
        while True:
            outcome = await self._call(step, name, names, log)
            error = outcome.transport_error or ""
            if not error.startswith(_CONNECTION_FAILED) or lost:
                break
            lost.append(outcome)
        result = _judge_step(endpoint, step, name, outcome, names, parameter)
        if lost:
            result.retried = lost
            result.notes.append(
                f"{name}: {lost[0].transport_error}; retried once on a fresh connection"
                + ("" if result.verdict is None else " (and it failed again)")
            )
        return result

    async def _call(
        self, step: Step, name: str, names: dict[str, Any], log: list[calls.CallOutcome]
    ) -> calls.CallOutcome:
        assert self._pool is not None and self._http is not None, "use Runner as an async context manager"
        target = self.target
        via = (node_sdk.VIA if self._node is not None else "sdk") if step.sdk else "httpx"
        outcome = calls.CallOutcome(label=name, via=via)
        try:
            if step.sdk is not None:
                params = expressions.render(step.params, names)
                if "model" not in params and _accepts_model(step.sdk):
                    params = {"model": target.model, **params}
                log.append(outcome)
                if self._node is not None:
                    await self._node.call(outcome, target.base_url, target.api_key, step.sdk, params, target.timeout)
                else:
                    await calls.sdk_call(
                        outcome, self._pool, target.base_url, target.api_key, step.sdk, params, target.timeout
                    )
            else:
                assert step.http is not None
                call = expressions.render(step.http.model_dump(by_alias=True), names)
                log.append(outcome)
                await calls.http_call(outcome, self._http, target.base_url, target.api_key, call, target.timeout)
        except (expressions.ExpressionError, node_sdk.NodeMethodMissing) as exc:
            raise _NotReady(str(exc)) from exc
        return outcome


def _accepts_model(dotted: str) -> bool:
    from conformance.cases import sdk_probe_client

    return "model" in calls.sdk_signature(sdk_probe_client(), dotted).parameters


def _wanted_statuses(exp: Any) -> list[Any]:
    return exp.status if isinstance(exp.status, list) else [exp.status]


def _judge_step(
    endpoint: str, step: Step, name: str, outcome: calls.CallOutcome, names: dict[str, Any], parameter: str = ""
) -> StepResult:
    """The step's behaviour verdict, with the wire axis (schema, SDK) kept apart from it.

    Schema and SDK checks never decide the behaviour: a missing `message.refusal` is a spec violation
    to list, not a reason to call `n` broken. Optional fields only add notes; a check about another
    row (Expectation.row) lands on that row.
    """
    status = outcome.status
    if outcome.transport_error is not None:
        return StepResult(outcome, verdict=Verdict.ERROR, problem=outcome.transport_error)
    if status is None:
        return StepResult(outcome, verdict=Verdict.ERROR, problem="no HTTP status")
    if status >= 500:
        return StepResult(outcome, verdict=Verdict.ERROR, problem=f"HTTP {status}: {_excerpt(outcome)}")
    wanted = [_wanted_statuses(exp) for exp in step.expect if exp.subject == "status"]
    wants_error = any(not all(checks.status_matches(200, w) for w in statuses) for statuses in wanted)
    if 400 <= status < 500 and not wants_error:
        return StepResult(outcome, verdict=Verdict.UNSUPPORTED, problem=f"refused with HTTP {status}: {_excerpt(outcome)}")
    if status in (404, 405) and wants_error and not any(checks.status_matches(status, w) for ws in wanted for w in ws):
        # A route the server does not have, not a parameter it ignores: "rejected", not "accepted but ignored".
        return StepResult(
            outcome,
            verdict=Verdict.UNSUPPORTED,
            problem=f"HTTP {status} (no such route?) where {' or '.join(str(w) for ws in wanted for w in ws)} "
            f"was expected: {_excerpt(outcome)}",
        )
    if outcome.sdk_error and "could not decode" in outcome.sdk_error:  # the SDK's own words first
        return StepResult(outcome, verdict=Verdict.ERROR, problem=outcome.sdk_error, sdk_broken=True, judged=True)
    if 200 <= status < 300 and not outcome.is_stream and not outcome.body_json()[0]:
        return StepResult(
            outcome,
            verdict=Verdict.ERROR,
            problem=f"HTTP {status} with a body that is not JSON ({outcome.json_error}): {_excerpt(outcome)}",
        )
    view = outcome.view(endpoint)
    result = StepResult(outcome, view=view, judged=True)
    if step.sdk is not None and 200 <= status < 300:
        sdk_check = CheckOutcome(
            expectation=_SDK_ACCEPTS[outcome.via].format(method=step.sdk),
            passed=outcome.sdk_error is None,
            detail=outcome.sdk_error or "",
            kind=FailureKind.SCHEMA,
        )
        result.checks.append(sdk_check)
        if not sdk_check.passed:
            # The strict validation alone: applications (default mode, no validation) read it.
            result.sdk_broken = not outcome.sdk_strict_only
            result.violations.append(f"{name}: {sdk_check.expectation}: {sdk_check.detail}")
    scope = {**names, name: view}
    # An error was asked for and came, but without OpenAI's envelope (FastAPI's {"detail": ...}):
    # the refusal is the behaviour, the missing envelope is wire. With an envelope, a wrong `param`
    # or `code` stays behaviour (the server names the wrong thing).
    # A field of the envelope that is absent (`param` left out) is wire too: the schema requires it.
    body = view.get("body") if isinstance(view, dict) else None
    refusal = wants_error and 400 <= status < 500
    bare_refusal = refusal and not (isinstance(body, dict) and isinstance(body.get("error"), dict))
    judged = [(exp, checks.judge(exp, view, scope, outcome.stream)) for exp in step.expect]
    deciding: list[tuple[Any, CheckOutcome]] = []
    for exp, check in judged:
        envelope_gap = bare_refusal or (refusal and check.detail.endswith(" is missing"))
        if envelope_gap and exp.kind is None and _about_the_envelope(exp) and not check.passed:
            check.kind = FailureKind.SCHEMA  # the error envelope is the wire format of a refusal
        if exp.row is not None and exp.row != parameter:
            check.row = exp.row
        result.checks.append(check)
        mode = compare_mode(exp, name)
        if check.passed:
            if mode == "differ":
                result.differ_passed.append(check.expectation)
            continue
        if exp.optional:
            result.notes.append(f"{name}: optional, and absent or different: {check.expectation}: {check.detail}")
        elif check.kind is FailureKind.SCHEMA:
            result.violations.append(f"{name}: {check.expectation}: {check.detail}")
        elif check.row is not None:
            result.attributed.append(Attributed(row=check.row, expectation=check.expectation, detail=check.detail))
        else:
            deciding.append((exp, check))
    if not deciding:
        return result
    # A wrong status explains the rest (an accepted bad request has no error envelope to validate).
    wrong_status = [(exp, check) for exp, check in deciding if exp.subject == "status"]
    if wrong_status:
        kind, first = FailureKind.PROTOCOL, wrong_status[0][1]
    else:
        kind = min((c.kind for _, c in deciding), key=_KIND_ORDER.index)
        first = next(c for _, c in deciding if c.kind is kind)
    result.verdict, result.kind = Verdict.FAIL, kind
    result.problem = f"{first.expectation}: {first.detail}"
    result.same_failed = all(compare_mode(e, name) == "same" for e, _ in deciding)
    return result


def _about_the_envelope(exp: Any) -> bool:
    """A check of `body.error...`: on a refusal without the envelope these are the envelope's absence."""
    return exp.subject == "field" and str(exp.field).startswith("body.error")


def _excerpt(outcome: calls.CallOutcome) -> str:
    ok, body = outcome.body_json()
    if ok and isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message"))[:300]
    text = outcome.text.strip().replace("\n", " ")
    return (text[:300] + "...") if len(text) > 300 else (text or "(empty body)")


def _result(
    case: Case,
    verdict: Verdict,
    reason: str,
    got: _Case,
    kind: FailureKind | None = None,
) -> CaseResult:
    return CaseResult(
        case_id=case.id,
        endpoint=case.endpoint,
        parameter=case.parameter,
        title=case.title,
        profile=case.profile,
        verdict=verdict,
        reason=reason,
        failure_kind=kind if verdict is Verdict.FAIL else None,
        checks=got.checks,
        evidence=got.evidence,
        wire=got.wire(),
        violations=got.violations,
        notes=list(got.notes),
        attributed=got.attributed,
    )


def redact(result: CaseResult, secrets: Sequence[str | None]) -> CaseResult:
    """Blank credential headers and every occurrence of the key, wherever a server may have echoed it."""
    for exchange in result.evidence:
        for headers in (exchange.request_headers, exchange.response_headers):
            for key in list(headers):
                if key.lower() in _SECRET_HEADERS:
                    headers[key] = "[redacted]"
    keys = [s for s in secrets if s and len(s) >= 4]
    if not keys:
        return result
    text = result.model_dump_json()
    for key in keys:
        text = text.replace(key, "[redacted]")
        escaped = json.dumps(key)[1:-1]
        if escaped != key:
            text = text.replace(escaped, "[redacted]")
    return CaseResult.model_validate_json(text)
