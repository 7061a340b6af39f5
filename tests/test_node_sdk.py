"""`run --sdk python,node`: the cases' SDK calls replayed through the official `openai` npm package.

Against the real reference server both SDKs must accept every answer; behind the mutating proxy
the node SDK must be the one that flags what it cannot parse, with its own error as the reason, and
where the two SDKs disagree (JSON's -Infinity, which Python reads and JavaScript does not) the
results must say which one failed.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from mutating_proxy import DONE, Mutation, RunningProxy, hang_after_first_chunk, running_proxy
from test_cli import in_process

from conformance import node_sdk, reports
from conformance.api import RunConfig, list_cases, run_suite
from conformance.calls import CallOutcome
from conformance.engine import exit_status
from conformance.results import CaseResult, RunResults, Verdict, WireState, load, save
from conformance.sdks import uses_sdk
from reference_server.launcher import RunningServer

if shutil.which("node") is None:  # a machine without Node.js cannot run these; CI has it
    pytest.skip("Node.js is not installed", allow_module_level=True)

LOCKED_VERSION = json.loads((node_sdk.WORKER_DIR / "package-lock.json").read_text())["packages"][
    "node_modules/openai"
]["version"]


def _one_case_per_sdk_call() -> list[str]:
    """The first case of each (SDK method, streamed, profile): every kind of SDK call the suite makes, once."""
    chosen: dict[tuple[str, bool, str], str] = {}
    for case in list_cases():
        for step in [*case.steps, *(shared.step for shared in case.shared)]:
            if step.sdk is not None:
                chosen.setdefault((step.sdk, step.params.get("stream") is True, case.profile), case.id)
    return sorted(set(chosen.values()))


SDK_CALL_CASES = _one_case_per_sdk_call()
RAW_ONLY = next(case.id for case in list_cases() if not uses_sdk(case))


def test_node_sdk_is_installed() -> None:
    """The set-up (scripts/setup-venv) installed the locked package: without it every node test below is moot."""
    assert node_sdk.setup_problem() is None
    installed = json.loads((node_sdk.WORKER_DIR / "node_modules" / "openai" / "package.json").read_text())
    assert installed["version"] == LOCKED_VERSION


def test_js_call_follows_the_python_signature() -> None:
    assert node_sdk.js_call("models.list", {}) == (["models", "list"], [])
    assert node_sdk.js_call("models.retrieve", {"model": "m"}) == (["models", "retrieve"], ["m"])
    assert node_sdk.js_call("responses.input_items.list", {"response_id": "r", "limit": 2}) == (
        ["responses", "inputItems", "list"],
        ["r", {"limit": 2}],
    )
    path, args = node_sdk.js_call(
        "chat.completions.create",
        {"model": "m", "messages": [], "extra_body": {"top_k": 1}, "extra_headers": {"X-A": "1"}, "timeout": 2},
    )
    assert path == ["chat", "completions", "create"]
    assert args == [{"model": "m", "messages": [], "top_k": 1}, {"headers": {"X-A": "1"}, "timeout": 2000.0}]


# --- the worker protocol ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(server: RunningServer) -> Iterator[RunningProxy]:
    def streamed(ctx) -> bool:  # type: ignore[no-untyped-def]
        return ctx.chat and ctx.stream and "n" not in ctx.json

    def minus_infinity(body, ctx):  # type: ignore[no-untyped-def]
        body["choices"][0]["logprobs"]["content"][0]["top_logprobs"][-1]["logprob"] = -math.inf
        return body  # json.dumps writes -Infinity: Python's json reads it back, JavaScript's JSON.parse does not

    def error_event(events, ctx):  # type: ignore[no-untyped-def]
        error = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}
        return [*events[:2], error, DONE]

    mutations = {
        "none": Mutation(when=lambda c: False),
        "unparsable_chunk": Mutation(when=streamed, raw=lambda t: t.replace("\n\n", "\n\ndata: {broken\n\n", 1)),
        "error_event": Mutation(when=streamed, events=error_event),
        "minus_infinity": Mutation(when=lambda c: c.chat and c.param("top_logprobs") == 3, body=minus_infinity),
        # The same fault, served to the node SDK alone: the other SDK sees a conformant server.
        "minus_infinity_for_node": Mutation(
            when=lambda c: c.chat and c.param("top_logprobs") == 3 and c.sdk_lang == "js", body=minus_infinity
        ),
        "hang": Mutation(when=streamed, respond=hang_after_first_chunk),
    }
    with running_proxy(server.base_url, mutations) as p:
        yield p


def test_worker_protocol(server: RunningServer, proxy: RunningProxy) -> None:
    """Concurrent calls each get their own answer; a cancelled call keeps its partial answer; no method, no call."""
    model = server_model(server)
    chat = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}

    async def scenario() -> tuple[list[CallOutcome], CallOutcome, str, CallOutcome]:
        worker = node_sdk.NodeWorker()
        try:
            outcomes = [CallOutcome(label=str(i), via=node_sdk.VIA) for i in range(3)]
            await asyncio.gather(
                worker.call(outcomes[0], server.base_url, None, "chat.completions.create", {**chat, "stream": True}, 60),
                worker.call(outcomes[1], server.base_url, None, "models.retrieve", {"model": model}, 60),
                worker.call(outcomes[2], server.base_url, None, "models.retrieve", {"model": "no-such-model"}, 60),
            )
            hung = CallOutcome(label="hung", via=node_sdk.VIA)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    worker.call(hung, proxy.base_url("hang"), None, "chat.completions.create", {**chat, "stream": True}, 60),
                    3,
                )
            with pytest.raises(node_sdk.NodeMethodMissing) as missing:
                await worker.call_path(CallOutcome(label="x", via=node_sdk.VIA), server.base_url, None, ["responses", "noSuchThing", "list"], [], 5)
            after = CallOutcome(label="after", via=node_sdk.VIA)  # the worker still serves calls
            await worker.call(after, server.base_url, None, "models.list", {}, 60)
            assert worker.sdk_version == LOCKED_VERSION
            return outcomes, hung, str(missing.value), after
        finally:
            await worker.close()

    (stream, retrieved, unknown), hung, missing, after = asyncio.run(scenario())
    assert stream.method == "POST" and stream.url == f"{server.base_url}/chat/completions"
    assert stream.request_body["stream"] is True and stream.request_headers["accept-encoding"] == "identity"
    assert stream.status == 200 and stream.is_stream and stream.stream is not None
    assert stream.stream.events[-1].data == DONE and stream.sdk_error is None and stream.transport_error is None
    assert retrieved.status == 200 and json.loads(retrieved.text)["id"] == model
    assert unknown.status == 404 and unknown.sdk_error is None  # an error status is the server's answer, not the SDK's finding
    assert hung.status == 200 and b"chat.completion.chunk" in hung.body  # the first chunk, kept
    assert missing == "the openai node SDK has no client.responses.noSuchThing.list"
    assert after.status == 200 and after.finished is not None


def test_a_dead_worker_fails_its_calls_and_the_next_ones_at_once(server: RunningServer, proxy: RunningProxy) -> None:
    chat = {"model": server_model(server), "messages": [{"role": "user", "content": "Hi"}], "stream": True}

    async def scenario() -> tuple[CallOutcome, str]:
        worker = node_sdk.NodeWorker()
        try:
            hung = CallOutcome(label="hung", via=node_sdk.VIA)
            call = asyncio.ensure_future(worker.call(hung, proxy.base_url("hang"), None, "chat.completions.create", chat, 60))
            while not hung.body:  # the first chunk is in: the call is in flight
                await asyncio.sleep(0.05)
            assert worker._process is not None
            worker._process.kill()
            await asyncio.wait_for(call, 10)
            with pytest.raises(node_sdk.WorkerDied) as died:
                await worker.call(CallOutcome(label="next", via=node_sdk.VIA), server.base_url, None, "models.list", {}, 60)
            return hung, str(died.value)
        finally:
            await worker.close()

    hung, died = asyncio.run(scenario())
    assert hung.transport_error is not None and hung.transport_error.startswith("the node SDK worker exited")
    assert died.startswith("the node SDK worker exited")


def server_model(server: RunningServer) -> str:
    from conformance.api import resolve_model

    return resolve_model(server.base_url, None, None)


# --- whole runs -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both_sdks(server: RunningServer) -> RunResults:
    started = time.monotonic()
    results = run_suite(
        RunConfig(base_url=server.base_url, provider="reference", only=[*SDK_CALL_CASES, RAW_ONLY], sdks=["python", "node"], timeout=120)
    )
    print(f"\n{len(results.cases)} + {len(results.sdk_cases)} node cases in {time.monotonic() - started:.1f}s")
    return results


def test_every_sdk_call_passes_through_both_sdks(both_sdks: RunResults) -> None:
    python = {c.case_id: c for c in both_sdks.cases}
    node = {c.case_id: c for c in both_sdks.sdk_cases}
    assert set(python) == {*SDK_CALL_CASES, RAW_ONLY}
    assert set(node) == set(SDK_CALL_CASES)  # the raw-HTTP case is not replayed: it would only repeat itself
    assert {c.sdk for c in python.values()} == {"python"} and {c.sdk for c in node.values()} == {"node"}
    for case_id, result in node.items():
        assert result.verdict is python[case_id].verdict, f"{case_id}: node {result.verdict}: {result.reason}"
        if python[case_id].verdict is not Verdict.PASS:  # completions.suffix: the documented refusal
            continue
        sdk_steps = [ex for ex in result.evidence if ex.via == node_sdk.VIA]
        assert sdk_steps, f"{case_id}: no call went through the node SDK"
        accepted = [c for c in result.checks if c.expectation.startswith("the openai node SDK (")]
        assert accepted and all(c.passed for c in accepted), case_id
    assert both_sdks.run.options["sdks"] == ["python", "node"]
    assert both_sdks.run.options["sdk_versions"]["node"] == LOCKED_VERSION
    assert exit_status(both_sdks) == exit_status(both_sdks.model_copy(update={"sdk_cases": []}))


def test_results_and_reports_carry_the_node_results(both_sdks: RunResults, tmp_path: Path) -> None:
    save(both_sdks, tmp_path / "results.json")
    assert load(tmp_path / "results.json") == both_sdks
    assert "## SDKs" in reports.render("md", [both_sdks])
    assert "node SDK" in reports.render("html", [both_sdks])
    suites = ET.fromstring(reports.render("junit", [both_sdks])).findall("testsuite")
    node_suites = [s for s in suites if s.get("name", "").startswith("node SDK: ")]
    assert sum(int(s.get("tests", 0)) for s in node_suites) == len(both_sdks.sdk_cases)


def test_a_results_file_without_sdk_results_still_loads(both_sdks: RunResults, tmp_path: Path) -> None:
    data = json.loads(both_sdks.model_dump_json())
    del data["sdk_cases"]
    for case in data["cases"]:
        del case["sdk"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load(tmp_path / "old.json")
    assert old.sdk_cases == [] and {c.sdk for c in old.cases} == {"python"}


NO_NODE_METHOD = """
endpoint: audio.voices
cases:
  - id: own.voices.delete
    parameter: delete
    steps:
      - sdk: audio.voices.delete
        params: {voice_id: no-such-voice}
        expect:
          - status: 404
"""


def test_a_method_the_npm_package_lacks_is_skipped_never_passed(server: RunningServer, tmp_path: Path) -> None:
    """openai 3.x for Python has audio.voices; the npm package 6.x does not: a node-side limitation, said as such."""
    (tmp_path / "own.yaml").write_text(NO_NODE_METHOD, encoding="utf-8")
    results = run_suite(RunConfig(base_url=server.base_url, cases_dir=tmp_path, sdks=["python", "node"], timeout=30))
    assert [c.verdict for c in results.cases] == [Verdict.PASS]  # the server's 404 for a route it does not have
    [node] = results.sdk_cases
    assert node.verdict is Verdict.SKIPPED
    assert node.reason.endswith("the openai node SDK has no client.audio.voices.delete"), node.reason
    assert exit_status(results) == 1


def node_verdicts(
    proxy: RunningProxy, mutation: str, only: list[str], timeout: float = 60, sdks: tuple[str, ...] = ("python", "node")
) -> tuple[dict[str, CaseResult], dict[str, CaseResult]]:
    """Case results by id: the first SDK's, and the node SDK's (the first ones too when node is the only SDK)."""
    results = run_suite(RunConfig(base_url=proxy.base_url(mutation), only=only, sdks=list(sdks), timeout=timeout))
    first = {c.case_id: c for c in results.cases}
    return first, ({c.case_id: c for c in results.sdk_cases} if len(sdks) > 1 else first)


def test_node_sdk_flags_an_unparsable_chunk(proxy: RunningProxy) -> None:
    python, node = node_verdicts(proxy, "unparsable_chunk", ["chat.stream.framing", "chat.basic"])
    assert node["chat.basic"].verdict is Verdict.PASS  # not streamed: untouched
    broken = node["chat.stream.framing"]
    assert broken.verdict is Verdict.ERROR
    assert broken.reason.startswith("the openai node SDK could not decode the answer: SyntaxError"), broken.reason
    assert "{broken" in broken.evidence[-1].response_excerpt
    assert python["chat.stream.framing"].verdict is Verdict.ERROR  # the Python SDK agrees here


def test_node_sdk_flags_an_error_inside_a_200_stream(proxy: RunningProxy) -> None:
    _, node = node_verdicts(proxy, "error_event", ["chat.stream.framing"])
    failed = node["chat.stream.framing"]
    # The stream stops at the error (behaviour: no finish_reason) and the SDK throws on it (wire).
    assert failed.verdict is Verdict.FAIL and failed.failure_kind is not None, failed.reason
    assert failed.wire is WireState.BREAKS_SDK
    assert any("the openai node SDK raised APIError: overloaded" in v for v in failed.violations), failed.violations


def test_minus_infinity_is_not_json_for_either_sdk(proxy: RunningProxy) -> None:
    """Python's json reads -Infinity, JavaScript's JSON.parse does not; RFC 8259 sides with JavaScript, and so does
    the harness: both results are errors, each in its own words."""
    python, node = node_verdicts(proxy, "minus_infinity", ["chat.top_logprobs.count"])
    lenient = python["chat.top_logprobs.count"]
    assert lenient.verdict is Verdict.ERROR and "is not a JSON value" in lenient.reason, lenient.reason
    rejected = node["chat.top_logprobs.count"]
    assert rejected.verdict is Verdict.ERROR
    assert "the openai node SDK could not decode the answer: SyntaxError" in rejected.reason
    assert "-Infinity" in rejected.evidence[-1].response_excerpt


def test_a_hung_stream_is_an_error_with_its_partial_answer(proxy: RunningProxy) -> None:
    _, node = node_verdicts(proxy, "hang", ["chat.stream.framing"], timeout=5, sdks=("node",))
    hung = node["chat.stream.framing"]
    assert hung.sdk == "node"
    assert hung.verdict is Verdict.ERROR and "no complete answer within 5s" in hung.reason
    assert "chat.completion.chunk" in hung.evidence[-1].response_excerpt


# --- the command line -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "path", "message"),
    [
        ("node,bogus", None, "unknown SDK 'bogus' in --sdk (known: python, node)"),
        ("python,python", None, "--sdk names 'python' twice"),
        ("python,node", "/nonexistent", "--sdk node needs Node.js (`node` on PATH); install it, then run scripts/setup-venv"),
    ],
)
def test_cli_sdk_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sdk: str, path: str | None, message: str
) -> None:
    if path is not None:
        monkeypatch.setenv("PATH", path)
    code, _, err = in_process(capsys, "run", "--base-url", "http://127.0.0.1:9/v1", "--sdk", sdk)
    assert (code, err) == (2, f"conformance: error: {message}\n")


def test_cli_names_a_node_too_old_for_the_worker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_sdk, "_node_version", lambda node: (18, 19, 0))
    code, _, err = in_process(capsys, "run", "--base-url", "http://127.0.0.1:9/v1", "--sdk", "node")
    assert code == 2 and err.startswith("conformance: error: --sdk node needs Node.js 20.3 or later; ")
    assert err.endswith(" is 18.19.0\n") and err.count("\n") == 1


def test_cli_run_with_both_sdks(
    capsys: pytest.CaptureFixture[str], server: RunningServer, proxy: RunningProxy, tmp_path: Path
) -> None:
    code, out, _ = in_process(capsys, "run", "--base-url", server.base_url, "--sdk", "python,node", "--only", "models.*", "--out", str(tmp_path / "a"))
    assert code == 0, out
    assert "node SDK: " in out
    results = load(tmp_path / "a" / "results.json")
    assert {c.case_id for c in results.sdk_cases} == {c.case_id for c in results.cases if c.case_id.startswith("models.")}
    assert "## SDKs" in (tmp_path / "a" / "matrix.md").read_text()
    # Python passes, node does not: the run is not green, and the terminal says which SDK and why.
    code, out, _ = in_process(capsys, "run", "--base-url", proxy.base_url("minus_infinity_for_node"), "--sdk", "python,node", "--only", "chat.top_logprobs.count", "--out", str(tmp_path / "b"))
    assert code == 1, out
    assert "chat.top_logprobs.count: python ✅ pass, node 💥 error · 🧨 breaks-sdk: " in out and "could not decode" in out
