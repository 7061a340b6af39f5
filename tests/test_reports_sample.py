"""A hand-built run holding every verdict, cell state and wire state, shared by the report and CLI tests.

Not a test module itself: it builds data only. Server-supplied text deliberately carries markup,
table separators, an XML-illegal control character and a leaked API key, so the renderers' escaping
and scrubbing are exercised by every test that uses it. Besides the behaviour states it holds a
cell that violates the spec (with a note), one that breaks the SDK, one that fails under concurrent
requests, an inconclusive one, an endpoint that is not served, a route that is not served (GET
/models/{id}: its rows only), and the repeatability probe.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conformance.matrix import derive_cells
from conformance.results import (
    CaseResult,
    CheckOutcome,
    Exchange,
    FailureKind,
    Repeatability,
    RunInfo,
    RunResults,
    Verdict,
    WireState,
)

LEAKED_KEY = "sk-leaked-secret-0123456789"
HOSTILE = '<script>alert("x")</script> a|b & c'
VIOLATION = f"probe: body validates: choices[0].message: 'refusal' is a required property {HOSTILE}"
SDK_BROKEN = "probe: the openai SDK accepts chat.completions.create: ValidationError: tool_calls.0.id"
NOTE = "probe: optional, and absent or different: body has system_fingerprint"
UNDER_CONCURRENCY = "error: HTTP 503: server overloaded"
NOT_SERVED = "POST /embeddings answered HTTP 404"
NO_ROUTE = "GET /models/smol answered HTTP 404"  # a route probe: only the rows it names


def _exchange(label: str, status: int | None, excerpt: str = "", error: str | None = None) -> Exchange:
    return Exchange(
        label=label,
        via="httpx",
        method="POST",
        url="http://127.0.0.1:9/v1/chat/completions",
        request_headers={"Authorization": f"Bearer {LEAKED_KEY}", "Content-Type": "application/json"},
        request_body={"model": "m", "messages": [{"role": "user", "content": HOSTILE}], "stop": ["</b>"]},
        status=status,
        response_headers={"content-type": "application/json"},
        response_excerpt=excerpt,
        duration_s=0.25,
        error=error,
    )


def _case(case_id: str, parameter: str, verdict: Verdict, reason: str = "", **kw: object) -> CaseResult:
    return CaseResult(
        case_id=case_id,
        endpoint=kw.pop("endpoint", "chat.completions"),  # type: ignore[arg-type]
        parameter=parameter,
        title=f"{parameter} does what OpenAI documents",
        verdict=verdict,
        reason=reason,
        duration_s=0.5,
        **kw,  # type: ignore[arg-type]
    )


def sample_cases() -> list[CaseResult]:
    ok = CheckOutcome(expectation="status is 200", passed=True)
    return [
        _case(
            "chat.temperature.greedy",
            "temperature",
            Verdict.PASS,
            checks=[ok],
            evidence=[_exchange("probe", 200, '{"id":"x"}')],
            wire=WireState.STRICT,
        ),
        _case(
            "chat.stop.substring",
            "stop",
            Verdict.FAIL,
            f"content does not end before the stop string: {HOSTILE}",
            failure_kind=FailureKind.BEHAVIOUR,
            checks=[
                ok,
                CheckOutcome(
                    expectation=f"content ends before {HOSTILE}", passed=False, detail="got 'ab</b>cd'"
                ),
            ],
            evidence=[_exchange("baseline", 200, "ab</b>cd"), _exchange("probe", 200, "bad\x00byte\x1b[0m")],
        ),
        _case(
            "chat.response_format.json_schema",
            "response_format",
            Verdict.FAIL,
            "choices[0].message: 'role' is a required property",
            failure_kind=FailureKind.SCHEMA,
            checks=[CheckOutcome(expectation="body validates", passed=False, kind=FailureKind.SCHEMA)],
        ),
        _case(
            "chat.logit_bias.ban",
            "logit_bias",
            Verdict.UNSUPPORTED,
            "400: unknown parameter logit_bias",
            evidence=[_exchange("probe", 400, '{"error":{"message":"unknown parameter"}}')],
        ),
        _case(
            "chat.n.three",
            "n",
            Verdict.ERROR,
            "timed out after 60 s",
            evidence=[_exchange("probe", None, error="ReadTimeout")],
        ),
        _case("chat.seed.repeat", "seed", Verdict.SKIPPED, "its baseline chat.temperature.greedy failed"),
        _case("chat.top_k.greedy", "top_k", Verdict.PASS, profile="vllm"),
        _case(
            "chat.min_p.effect",
            "min_p",
            Verdict.FAIL,
            "min_p had no effect",
            profile="vllm",
            failure_kind=FailureKind.BEHAVIOUR,
        ),
        _case("models.list.shape", "list", Verdict.PASS, endpoint="models", wire=WireState.STRICT),
        _case(
            "chat.logprobs.top",
            "logprobs",
            Verdict.PASS,
            wire=WireState.SPEC_VIOLATED,
            violations=[VIOLATION, "probe: body validates: usage: 'total_tokens' is a required property"],
            notes=[NOTE],
            evidence=[_exchange("probe", 200, '{"id":"y"}')],
        ),
        _case("chat.tools.call", "tools", Verdict.PASS, wire=WireState.BREAKS_SDK, violations=[SDK_BROKEN]),
        _case(
            "chat.stream.chunks",
            "stream",
            Verdict.PASS,
            wire=WireState.STRICT,
            under_concurrency=UNDER_CONCURRENCY,
        ),
        _case(
            "chat.top_p.narrow",
            "top_p",
            Verdict.INCONCLUSIVE,
            "passes only because two answers differ, and this server's greedy answers differ anyway",
            wire=WireState.STRICT,
        ),
        *(
            _case(
                f"embeddings.{parameter}.basic",
                parameter,
                Verdict.UNSUPPORTED,
                f"endpoint not served: {NOT_SERVED}",
                endpoint="embeddings",
            )
            for parameter in ("input", "dimensions")
        ),
        _case(
            "models.retrieve.basic", "retrieve", Verdict.UNSUPPORTED, f"endpoint not served: {NO_ROUTE}", endpoint="models"
        ),
    ]


def sample_results(provider: str = "acme <labs>", cases: list[CaseResult] | None = None) -> RunResults:
    cases = sample_cases() if cases is None else cases
    return RunResults(
        run=RunInfo(
            provider=provider,
            base_url="http://127.0.0.1:9/v1",
            model="smol<lm>",
            tool_version="0.1.0",
            started_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            finished_at=datetime(2025, 1, 2, 3, 5, 5, tzinfo=UTC),
            options={"concurrency": 4, "api_key_hint": LEAKED_KEY},
        ),
        cases=cases,
        cells=derive_cells(cases),
        repeatability=[
            Repeatability(endpoint="chat.completions", status=200, calls=3, distinct=2, repeats=False),
            Repeatability(endpoint="embeddings", served=False, status=404, detail=NOT_SERVED),
            Repeatability(endpoint="models", status=200, detail="no generated text to compare"),
            Repeatability(
                endpoint="models", rows=["retrieve", "errors.unknown_model"], served=False, status=404, detail=NO_ROUTE
            ),
        ],
    )
