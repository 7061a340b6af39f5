"""Record and replay, end to end: an SDK application's real calls, recorded through `conformance record`
in front of the real (keyed) reference server, replayed against it (everything holds) and against a
server that answers differently (tests/mutating_proxy.py: each difference reported, naming the field).
"""

from __future__ import annotations

import copy
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from conftest import TEST_API_KEY
from mutating_proxy import DONE, Ctx, Mutation, hang_after_first_chunk, running_proxy

from conformance import cli
from conformance.cases import load_file
from conformance.record.proxy import bind, running_recorder
from conformance.results import Verdict, load
from reference_server.launcher import RunningServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Recording:
    cassette: Path
    returncode: int
    stdout: str
    stderr_lines: list[str]
    app_saw: dict[str, Any] = field(default_factory=dict)


def _application(base_url: str) -> dict[str, Any]:
    """What an application does: a few ordinary calls through the official SDK."""
    seen: dict[str, Any] = {}
    with openai.OpenAI(base_url=base_url, api_key=TEST_API_KEY, max_retries=0, timeout=120) as client:
        model = client.models.list().data[0].id
        hello = [{"role": "user", "content": "Say hello."}]
        seen["chat"] = client.chat.completions.create(
            model=model, messages=hello, temperature=0, max_tokens=8
        )
        stream = client.chat.completions.create(
            model=model,
            messages=hello,
            temperature=0,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
        seen["chunks"] = list(stream)
        seen["tools"] = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS,
            tool_choice="required", temperature=0, max_tokens=40,
        )  # fmt: skip
        seen["embeddings"] = client.embeddings.create(model=model, input=["hello", "world"])
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=hello)
        events = client.responses.create(
            model=model, input="Say hi.", max_output_tokens=16, temperature=0, stream=True
        )
        seen["events"] = [e.type for e in events]
        first = client.responses.create(model=model, input="Say hi.", max_output_tokens=16, temperature=0)
        seen["follow_up"] = client.responses.create(
            model=model, input="Again.", previous_response_id=first.id, max_output_tokens=16, temperature=0
        )
        seen["retrieved"] = client.responses.retrieve(first.id)
    return seen


@pytest.fixture(scope="module")
def recording(keyed_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    """`conformance record` as a user runs it, stopped with Ctrl-C once the application is done."""
    cassette = tmp_path_factory.mktemp("record") / "calls.yaml"
    command = [sys.executable, "-m", "conformance", "record", "--upstream", keyed_server.base_url,
               "--listen", "127.0.0.1:0", "--out", str(cassette)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stderr_lines: list[str] = []
    first_line: queue.Queue[str] = queue.Queue()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_lines.append(line.rstrip("\n"))
            first_line.put(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        first = first_line.get(timeout=60)
        assert "set the application's base_url to http://" in first, first
        app_saw = _application(first.split("base_url to ")[1].split()[0])
        cassette_before_stop = cassette.read_text()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    assert cassette.read_text() == cassette_before_stop  # written call by call: stopping adds nothing
    yield Recording(cassette, proc.returncode, stdout, stderr_lines, app_saw)


def test_the_application_works_through_the_proxy(recording: Recording) -> None:
    seen = recording.app_saw
    assert seen["chat"].choices[0].message.content
    assert len(seen["chunks"]) > 3 and seen["chunks"][-1].usage is not None  # streamed chunk by chunk
    assert seen["tools"].choices[0].message.tool_calls[0].function.name == "get_weather"
    assert len(seen["embeddings"].data) == 2
    assert seen["events"][0] == "response.created" and seen["events"][-1] in (
        "response.completed",
        "response.incomplete",
    )


def test_ctrl_c_exits_0_with_one_summary_line_and_each_call_shown(recording: Recording) -> None:
    assert recording.returncode == 0
    assert recording.stdout.strip() == f"Recorded 10 call(s) to {recording.cassette}"
    calls = [line for line in recording.stderr_lines if line.startswith("#")]
    assert [line.split(" -> ")[0] for line in calls] == [
        "#1 GET /models", "#2 POST /chat/completions", "#3 POST /chat/completions (stream)",
        "#4 POST /chat/completions", "#5 POST /embeddings", "#6 POST /chat/completions", "#7 POST /responses (stream)",
        "#8 POST /responses", "#9 POST /responses", f"#10 GET /responses/{recording.app_saw['retrieved'].id}",
    ]  # fmt: skip
    assert "HTTP 404, recorded as rec.chat.completions.006" in calls[5]


def test_the_cassette_is_a_case_file_with_no_key(recording: Recording) -> None:
    text = recording.cassette.read_text()
    cases = load_file(recording.cassette)
    assert [c.id for c in cases] == [
        "rec.models.001", "rec.chat.completions.002", "rec.chat.completions.003", "rec.chat.completions.004",
        "rec.embeddings.005", "rec.chat.completions.006", "rec.responses.007", "rec.responses.008",
        "rec.responses.009", "rec.responses.010",
    ]  # fmt: skip
    assert TEST_API_KEY not in text and "authorization" not in text.lower()
    tools = cases[3].steps[0]
    assert (
        tools.http is not None
        and tools.http.json_["model"] == "${model}"
        and tools.http.json_["tools"] == TOOLS
    )
    assert cases[5].steps[0].http.json_["model"] == "no-such-model"  # type: ignore[union-attr]  # the point of that call
    expectations = {json.dumps(e.model_dump(exclude_unset=True, by_alias=True)) for e in tools.expect}
    assert json.dumps({"field": "body.choices[*].finish_reason", "all_in": ["tool_calls"]}) in expectations
    stream = [e.model_dump(exclude_unset=True) for e in cases[2].steps[0].expect]
    assert {"sse": "done_last"} in stream and {"sse": "usage_chunk"} in stream
    follow_up, retrieve = cases[8].steps, cases[9].steps  # replayed after the call they refer to
    assert [s.name for s in follow_up] == [s.name for s in retrieve] == ["call008", "call"]
    assert follow_up[1].http.json_["previous_response_id"] == "${call008.body.id}"  # type: ignore[union-attr]
    assert retrieve[1].http.path == "/responses/${call008.body.id}"  # type: ignore[union-attr]
    assert cases[9].row == "responses/GET /responses/{id}"
    events = next(e for e in cases[6].steps[0].expect if e.in_order)
    assert events.in_order[:2] == ["response.created", "response.in_progress"]  # type: ignore[index]


def replay(cassette: Path, base_url: str, out: Path) -> tuple[int, dict[str, Any]]:
    status = cli.main(
        ["replay", str(cassette), "--base-url", base_url, "--api-key", TEST_API_KEY, "--out", str(out)]
    )
    results = load(out / "results.json")
    return status, {c.case_id: c for c in results.cases}


def test_replay_against_the_recorded_server_holds(
    recording: Recording, keyed_server: RunningServer, tmp_path: Path
) -> None:
    status, cases = replay(recording.cassette, keyed_server.base_url, tmp_path)
    assert {cid: c.verdict for cid, c in cases.items()} == dict.fromkeys(cases, Verdict.PASS), [
        c.reason for c in cases.values()
    ]
    assert status == 0 and len(cases) == 10
    for name in ("results.json", "matrix.md", "report.html", "junit.xml"):
        assert TEST_API_KEY not in (tmp_path / name).read_text()
    assert "max_tokens+stream+stream_options+temperature" in (tmp_path / "matrix.md").read_text()


# --- a provider that answers differently ---------------------------------------------------------------


def _other_body(body: Any, ctx: Ctx) -> Any:
    body = copy.deepcopy(body)
    if isinstance(body.get("error"), dict):
        del body["error"]["code"]
    elif ctx.path == "/embeddings":
        for item in body["data"]:
            item["embedding"] = [0.5, 0.25]
    elif ctx.chat and "tools" in ctx.json:
        del body["choices"][0]["message"]["tool_calls"]
    elif ctx.chat:
        body["choices"][0]["finish_reason"] = "content_filter"
    return body


def _other_events(events: list[Any], ctx: Ctx) -> list[Any]:
    if ctx.chat:
        return [e for e in events if e != DONE]
    kept = [
        copy.deepcopy(e)
        for e in events
        if not (isinstance(e, dict) and e.get("type") == "response.in_progress")
    ]
    for number, event in enumerate(kept):
        event["sequence_number"] = number  # only the missing event differs
    return kept


OTHER = Mutation(
    when=lambda ctx: ctx.path != "/models", body=_other_body, events=_other_events, statuses=(200, 404)
)
DIFFERENCES = [  # (case, what its failed checks say)
    ("rec.chat.completions.002", 'body.choices[*].finish_reason: has "content_filter", recorded only ['),
    ("rec.chat.completions.003", "no data: [DONE] event"),
    ("rec.chat.completions.004", "choices[0].message.tool_calls is missing (recorded an array)"),
    ("rec.embeddings.005", "data[0].embedding is an array, recorded string (and 1 more like it)"),
    ("rec.chat.completions.006", "error.code is missing (recorded string)"),
    ("rec.responses.007", 'chunks[*].type: "response.in_progress" (recorded 2 of'),
    ("rec.responses.007", "response.in_progress is missing (recorded an array)"),  # each event kind's shape
]


def test_replay_against_another_server_reports_each_difference(
    recording: Recording, keyed_server: RunningServer, tmp_path: Path
) -> None:
    with running_proxy(keyed_server.base_url, {"other": OTHER}) as proxy:
        status, cases = replay(recording.cassette, proxy.base_url("other"), tmp_path)
    assert status == 1
    unchanged = ["rec.models.001", "rec.responses.008", "rec.responses.009", "rec.responses.010"]
    assert {cid: cases[cid].verdict for cid in unchanged} == dict.fromkeys(unchanged, Verdict.PASS)
    problems = []
    for case_id, difference in DIFFERENCES:
        case = cases[case_id]
        failed = [f"{c.expectation}: {c.detail}" for c in case.checks if not c.passed]
        # Each difference is found, on the behaviour axis (fail) or the wire axis (a violation):
        # a missing [DONE] or a changed shape is wire, a missing tool call behaviour.
        flagged = case.verdict is Verdict.FAIL or bool(case.violations)
        if not flagged or not any(difference in line for line in failed):
            problems.append(f"{case_id}: {case.verdict.value}: {case.reason} {case.violations}")
    assert not problems, "\n".join(problems)
    matrix = (tmp_path / "matrix.md").read_text()
    assert "tool_calls is missing" in matrix


def test_a_stream_is_relayed_as_it_comes_and_an_abandoned_call_is_not_recorded(
    keyed_server: RunningServer, tmp_path: Path
) -> None:
    """The upstream sends one chunk and never finishes: the app still gets that chunk at once."""
    said: list[str] = []
    cassette = tmp_path / "calls.yaml"
    hang = {"hang": Mutation(respond=hang_after_first_chunk)}
    with (
        running_proxy(keyed_server.base_url, hang) as upstream,
        running_recorder(upstream.base_url("hang"), cassette, said.append) as base,
    ):
        request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream("POST", f"{base}/chat/completions", json=request, timeout=10) as response:
            first = next(response.iter_lines())
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
    assert first.startswith("data: {")
    assert said == ["#1 POST /chat/completions: the app left before the answer ended; not recorded"]
    assert load_file(cassette) == []


# --- usage errors: one line, exit 2 -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["record", "--upstream", "{upstream}", "--listen", "nowhere"], "--listen must be HOST:PORT"),
        (["record", "--upstream", "ftp://x/v1"], "--upstream must be an http(s) URL"),
        (["record", "--upstream", "http://127.0.0.1:{closed}/v1"], "cannot reach the upstream"),
        (["record", "--upstream", "{upstream}", "--out", "{file}/calls.yaml"], "cannot write the cassette"),
        (
            ["record", "--upstream", "{upstream}", "--listen", "127.0.0.1:{busy}", "--out", "{tmp}/c.yaml"],
            "cannot listen on",
        ),
        (["replay", "{tmp}/missing.yaml", "--base-url", "{upstream}"], "no such cassette file"),
        (["replay", "{file}", "--base-url", "{upstream}"], "a case file is a mapping"),
        (["replay", "{empty}", "--base-url", "{upstream}"], "the cassette has no recorded calls"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    keyed_server: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file").write_text("not a cassette")
    (tmp_path / "empty.yaml").write_text("cases: []\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        values = {"upstream": keyed_server.base_url, "closed": _closed_port(), "file": tmp_path / "file",
                  "tmp": tmp_path, "empty": tmp_path / "empty.yaml", "busy": busy.getsockname()[1]}  # fmt: skip
        status = cli.main([a.format(**values) for a in argv])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("conformance: error: ") and message in err and "\n" not in err, err


def test_the_printed_address_takes_connections_before_the_server_runs() -> None:
    """`record` prints the address before uvicorn starts: an application that connects at once must
    wait in the listen backlog, not be refused (it was, on a loaded CI machine)."""
    sock = bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname()[:2], timeout=2):
            pass
    finally:
        sock.close()
