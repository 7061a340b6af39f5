"""`conformance run` and `conformance list` end to end, against the real reference server.

Runs are narrowed to the cheap /models cases (or a tiny suite of our own via --cases-dir) so the
whole file costs seconds, not generations.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import TEST_API_KEY
from test_cli import assert_usage_error, conformance, one_line

from conformance.results import Verdict, load
from reference_server.launcher import RunningServer

REPORT_FILES = ["junit.xml", "matrix.md", "report.html", "results.json"]

# A suite of our own that passes, fails and skips against any conformant server.
MIXED_SUITE = """
endpoint: models
cases:
  - id: own.pass
    parameter: list
    steps:
      - sdk: models.list
        expect:
          - status: 200
  - id: own.fail
    parameter: retrieve
    steps:
      - sdk: models.list
        expect:
          - field: body.object
            equals: not-a-list
  - id: own.skip
    parameter: skipped_row
    steps:
      - name: impossible_baseline
        sdk: models.list
        expect:
          - status: 418
      - sdk: models.list
        expect:
          - status: 200
"""


@pytest.fixture(scope="module")
def mixed_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cases")
    (directory / "own.yaml").write_text(MIXED_SUITE, encoding="utf-8")
    return directory


def test_list_shows_the_suite() -> None:
    proc = conformance("list")
    assert proc.returncode == 0, proc.stderr
    assert "models.list" in proc.stdout and "parameter" in proc.stdout
    narrowed = conformance("list", "--only", "models/*", "--exclude", "models.retrieve*")
    assert narrowed.returncode == 0, narrowed.stderr
    assert "models.list" in narrowed.stdout and "models.retrieve" not in narrowed.stdout
    assert_usage_error(conformance("list", "--only", "no-such-case-*"), "no-such-case-*")


def test_run_writes_all_four_reports_and_exits_0(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = conformance(
        "run",
        "--base-url",
        server.base_url,
        "--only",
        "models/*",
        "chat.basic",
        "--provider",
        "ref",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == REPORT_FILES
    results = load(out / "results.json")
    assert results.run.provider == "ref" and results.run.base_url == server.base_url
    assert results.cases and all(c.verdict is Verdict.PASS for c in results.cases)
    assert ET.parse(out / "junit.xml").getroot().get("tests") == str(len(results.cases))
    assert {c.case_id for c in results.cases} >= {"chat.basic", "models.list"}
    n = len(results.cases)
    assert f"cases: {n}/{n} ({n} pass)" in proc.stderr  # progress as plain lines when stderr is not a terminal
    matrix = (out / "matrix.md").read_text(encoding="utf-8")
    assert "## `models`" in matrix and "| `messages` " in matrix
    assert "Verdicts" in proc.stdout and "Reports in" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_run_with_failures_exits_1_and_skips_do_not_hide_them(
    server: RunningServer, mixed_suite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mixed"
    proc = conformance(
        "run", "--base-url", server.base_url, "--cases-dir", str(mixed_suite), "--out", str(out)
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    verdicts = {c.case_id: c.verdict for c in load(out / "results.json").cases}
    assert verdicts == {"own.pass": Verdict.PASS, "own.fail": Verdict.FAIL, "own.skip": Verdict.SKIPPED}
    assert "2 of 3 cases did not pass" in proc.stdout
    assert "retrieve" in proc.stdout and "skipped_row" in proc.stdout  # listed as needing attention


def test_unknown_model_and_unwritable_out_exit_2(server: RunningServer, tmp_path: Path) -> None:
    proc = conformance("run", "--base-url", server.base_url, "--model", "no-such-model", "--only", "models/*")
    assert_usage_error(proc, "no-such-model")
    one_line(proc)

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    proc = conformance(
        "run", "--base-url", server.base_url, "--only", "models/*", "--out", str(blocker / "out")
    )
    assert_usage_error(proc, "cannot write reports")
    one_line(proc)


def test_the_key_is_required_and_never_written(keyed_server: RunningServer, tmp_path: Path) -> None:
    keyless = conformance(
        "run", "--base-url", keyed_server.base_url, "--only", "models/*", "--out", str(tmp_path)
    )
    assert_usage_error(keyless, "API key")
    one_line(keyless)

    out = tmp_path / "keyed"
    proc = conformance(
        "run", "--base-url", keyed_server.base_url, "--only", "models/*", "--out", str(out),
        env={"OPENAI_API_KEY": TEST_API_KEY},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert TEST_API_KEY not in proc.stdout + proc.stderr
    for name in REPORT_FILES:
        assert TEST_API_KEY not in (out / name).read_text(encoding="utf-8"), name


class _NoModels(BaseHTTPRequestHandler):
    """A server whose /models lists nothing: the fault a user hits on a misconfigured gateway."""

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def no_models_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoModels)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_model_to_test_exits_2(no_models_url: str, tmp_path: Path) -> None:
    proc = conformance("run", "--base-url", no_models_url, "--out", str(tmp_path / "out"))
    assert_usage_error(proc, "no models", "--model")
    one_line(proc)
    assert not (tmp_path / "out").exists()
