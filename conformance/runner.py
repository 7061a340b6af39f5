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
from conformance.cases import Case, SharedStep, Step, is_baseline, step_name
from conformance.results import CaseResult, CheckOutcome, Exchange, FailureKind, Verdict

_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "openai-api-key", "proxy-authorization"}
_KIND_ORDER = [FailureKind.SCHEMA, FailureKind.PROTOCOL, FailureKind.BEHAVIOUR]
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
    verdict: Verdict | None = None  # None: every expectation held
    kind: FailureKind | None = None
    problem: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)


class _NotReady(Exception):
    """A request could not be built from earlier answers (a field it needs is missing)."""


class Runner:
    """One run's connection pools and shared-baseline memo. Use as an async context manager.

    `sdk` names the official SDK that makes the cases' SDK calls: "python" (the openai package, in
    process) or "node" (the openai npm package, in a Node.js worker started on first use).
    """

    def __init__(self, target: Target, sdk: str = "python") -> None:
        self.target = target
        self.sdk = sdk
        self._node = node_sdk.NodeWorker() if sdk == "node" else None
        self._pool: httpx2.AsyncHTTPTransport | None = None
        self._http: httpx.AsyncClient | None = None
        self._shared: dict[str, asyncio.Task[StepResult]] = {}

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
        for task in self._shared.values():
            task.cancel()
        await asyncio.gather(*self._shared.values(), return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self._pool is not None:
            await self._pool.aclose()
        if self._node is not None:
            await self._node.close()

    async def run_all(
        self, cases: Sequence[Case], on_result: Callable[[CaseResult], None] | None = None
    ) -> list[CaseResult]:
        semaphore = asyncio.Semaphore(max(1, self.target.concurrency))

        async def one(case: Case) -> CaseResult:
            async with semaphore:
                result = await self.run_case(case)
            if on_result is not None:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(c) for c in cases)))

    async def run_case(self, case: Case) -> CaseResult:
        """Run one case under its deadline; never raises."""
        log: list[calls.CallOutcome] = []
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(self._run_case(case, log), self.target.timeout)
        except TimeoutError:
            result = _result(
                case,
                Verdict.ERROR,
                f"no complete answer within {self.target.timeout:g}s (hung connection or endless stream)",
                evidence=[o.exchange() for o in log],
            )
        except Exception as exc:  # a harness bug must not take the run down; say whose fault it is
            result = _result(
                case,
                Verdict.ERROR,
                f"internal error in the harness: {type(exc).__name__}: {exc}",
                evidence=[o.exchange() for o in log],
            )
        result.duration_s = round(time.monotonic() - started, 3)
        result.sdk = self.sdk
        return redact(result, [self.target.api_key])

    async def _run_case(self, case: Case, log: list[calls.CallOutcome]) -> CaseResult:
        names: dict[str, Any] = {"model": self.target.model}
        evidence: list[Exchange] = []
        all_checks: list[CheckOutcome] = []
        for shared in case.shared:
            outcome = await asyncio.shield(self._shared_result(case, shared))
            if outcome.outcome is not None:
                exchange = outcome.outcome.exchange()
                exchange.label = f"shared:{shared.name}"
                evidence.append(exchange)
            if outcome.verdict is not None:
                reason = f"shared baseline '{shared.name}' did not hold: {outcome.problem}"
                return _result(case, Verdict.SKIPPED, reason, all_checks + outcome.checks, evidence)
            names[shared.name] = outcome.view
        for exp in case.require:
            check = checks.judge(exp, {}, names, None)
            all_checks.append(check)
            if not check.passed:
                reason = f"precondition not met: {check.expectation}: {check.detail}"
                return _result(case, Verdict.SKIPPED, reason, all_checks, evidence)
        total = len(case.steps)
        for index, step in enumerate(case.steps):
            name = step_name(step, index, total)
            baseline = is_baseline(step, index, total)
            try:
                outcome = await self._step(case.endpoint, step, name, names, log)
            except _NotReady as exc:
                return _result(case, Verdict.SKIPPED, f"cannot build step '{name}': {exc}", all_checks, evidence)
            if outcome.outcome is not None:
                evidence.append(outcome.outcome.exchange())
            all_checks.extend(outcome.checks)
            if outcome.verdict is not None:
                if baseline:
                    reason = f"baseline '{name}' did not hold: {outcome.problem}"
                    return _result(case, Verdict.SKIPPED, reason, all_checks, evidence)
                return _result(case, outcome.verdict, outcome.problem, all_checks, evidence, outcome.kind)
            names[name] = outcome.view
        return _result(case, Verdict.PASS, "", all_checks, evidence)

    def _shared_result(self, case: Case, shared: SharedStep) -> asyncio.Task[StepResult]:
        task = self._shared.get(shared.key)
        if task is None:
            task = asyncio.ensure_future(self._shared_step(case.endpoint, shared))
            self._shared[shared.key] = task
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
        self, endpoint: str, step: Step, name: str, names: dict[str, Any], log: list[calls.CallOutcome]
    ) -> StepResult:
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
        return _judge_step(endpoint, step, name, outcome, names)


def _accepts_model(dotted: str) -> bool:
    from conformance.cases import sdk_probe_client

    return "model" in calls.sdk_signature(sdk_probe_client(), dotted).parameters


def _wanted_statuses(exp: Any) -> list[Any]:
    return exp.status if isinstance(exp.status, list) else [exp.status]


def _judge_step(
    endpoint: str, step: Step, name: str, outcome: calls.CallOutcome, names: dict[str, Any]
) -> StepResult:
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
        return StepResult(outcome, verdict=Verdict.ERROR, problem=outcome.sdk_error)
    if 200 <= status < 300 and not outcome.is_stream and not outcome.body_json()[0]:
        return StepResult(
            outcome,
            verdict=Verdict.ERROR,
            problem=f"HTTP {status} with a body that is not JSON ({outcome.json_error}): {_excerpt(outcome)}",
        )
    view = outcome.view(endpoint)
    step_checks: list[CheckOutcome] = []
    if step.sdk is not None and 200 <= status < 300:
        step_checks.append(
            CheckOutcome(
                expectation=_SDK_ACCEPTS[outcome.via].format(method=step.sdk),
                passed=outcome.sdk_error is None,
                detail=outcome.sdk_error or "",
                kind=FailureKind.SCHEMA,
            )
        )
    scope = {**names, name: view}
    stream = outcome.stream
    judged = [(exp, checks.judge(exp, view, scope, stream)) for exp in step.expect]
    step_checks += [check for _, check in judged]
    failed = [c for c in step_checks if not c.passed]
    if not failed:
        return StepResult(outcome, view=view, checks=step_checks)
    # A wrong status explains the rest (an accepted bad request has no error envelope to validate).
    wrong_status = [check for exp, check in judged if exp.subject == "status" and not check.passed]
    if wrong_status:
        kind, first = FailureKind.PROTOCOL, wrong_status[0]
    else:
        kind = min((c.kind for c in failed), key=_KIND_ORDER.index)
        first = next(c for c in failed if c.kind is kind)
    return StepResult(
        outcome, view=view, verdict=Verdict.FAIL, kind=kind, problem=f"{first.expectation}: {first.detail}", checks=step_checks
    )


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
    checks_: list[CheckOutcome] | None = None,
    evidence: list[Exchange] | None = None,
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
        checks=checks_ or [],
        evidence=evidence or [],
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
