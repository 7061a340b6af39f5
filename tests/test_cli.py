"""The `conformance` command as a user meets it: real subprocesses, real exit codes, real stderr.

Every usage error must be one line on stderr, exit 2, and never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_reports_sample import LEAKED_KEY, sample_cases, sample_results

from conformance.cli import main
from conformance.engine import default_provider, exit_status, path_slug
from conformance.results import Verdict, load, save

REPO = Path(__file__).resolve().parent.parent


def conformance(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    base_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=REPO,
        env=base_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def assert_usage_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command without a new interpreter, for the many variants of one error path."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "results.json"
    save(sample_results(), path)
    return path


# --- usage errors ------------------------------------------------------------------------------


def test_unknown_flag_exits_2() -> None:
    assert_usage_error(
        conformance("run", "--base-url", "http://127.0.0.1:9/v1", "--frobnicate"), "unrecognized"
    )
    assert_usage_error(conformance("nonsense"), "invalid choice")
    assert_usage_error(conformance(), "required")


@pytest.mark.parametrize(
    ("flag", "value"), [("--concurrency", "0"), ("--concurrency", "x"), ("--timeout", "-1")]
)
def test_bad_numbers_exit_2(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = in_process(capsys, "run", "--base-url", "http://127.0.0.1:9/v1", flag, value)
    assert code == 2 and "expected a positive" in err


def test_unreachable_base_url_is_one_line_and_never_shows_the_key(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = conformance("run", "--base-url", url, "--api-key", LEAKED_KEY, "--out", str(tmp_path / "out"))
    assert_usage_error(proc, "cannot reach", url)
    assert one_line(proc).startswith("conformance: error:")
    assert LEAKED_KEY not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists(), "nothing is written for a run that never started"


def test_malformed_base_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    proc = conformance("run", "--base-url", "ftp://127.0.0.1/v1")
    assert_usage_error(proc, "--base-url")
    one_line(proc)
    for url in ("127.0.0.1:8080", "http://[::1", "http://127.0.0.1:99999/v1"):
        code, _, err = in_process(capsys, "run", "--base-url", url)
        assert code == 2 and "--base-url" in err and len(err.strip().splitlines()) == 1, err


def test_bad_results_files_exit_2(
    tmp_path: Path, sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_json = tmp_path / "not.json"
    not_json.write_text("{oops", encoding="utf-8")
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text('{"format_version": 1, "run": {}}', encoding="utf-8")
    other_version = tmp_path / "v99.json"
    other_version.write_text('{"format_version": 99}', encoding="utf-8")
    proc = conformance("report", str(sample_file), str(not_json), "--format", "html")
    assert_usage_error(proc, str(not_json))
    one_line(proc)
    assert proc.stdout == "", "no partial report on a bad input"
    for bad in (tmp_path / "missing.json", wrong_shape, other_version, tmp_path):
        code, out, err = in_process(capsys, "report", str(sample_file), str(bad), "--format", "html")
        assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1, err
        assert out == ""


def test_unwritable_report_out_exits_2(
    tmp_path: Path, sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = in_process(capsys, "report", str(sample_file), "--out", str(blocker / "report.md"))
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1, err


# --- report ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "md", "json", "junit"])
def test_report_renders_each_format(
    fmt: str, tmp_path: Path, sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"report.{fmt}"
    code, stdout, err = in_process(capsys, "report", str(sample_file), "--format", fmt, "--out", str(out))
    assert code == 0, err
    assert stdout == ""
    text = out.read_text(encoding="utf-8")
    assert f"Bearer {LEAKED_KEY}" not in text
    if fmt == "junit":
        assert ET.fromstring(text.encode()).get("tests") == str(len(sample_cases()))
    if fmt == "json":
        assert len(load(out).cases) == len(sample_cases())


def test_report_to_stdout_and_merged(tmp_path: Path, sample_file: Path) -> None:
    other = tmp_path / "other.json"
    save(sample_results("other-server"), other)
    proc = conformance("report", str(sample_file), str(other), "--format", "md")
    assert proc.returncode == 0, proc.stderr
    assert "| Parameter " in proc.stdout and "other-server" in proc.stdout and "acme" in proc.stdout


def test_report_scrubs_the_environment_key(sample_file: Path) -> None:
    proc = conformance("report", str(sample_file), "--format", "json", env={"OPENAI_API_KEY": LEAKED_KEY})
    assert proc.returncode == 0, proc.stderr
    assert LEAKED_KEY not in proc.stdout and "[REDACTED]" in proc.stdout


# --- the exit-status and naming rules ------------------------------------------------------------


def test_exit_status_is_0_only_when_everything_passed() -> None:
    cases = sample_cases()
    passing = [c for c in cases if c.verdict is Verdict.PASS and not c.violations]  # off the spec fails a run too
    assert exit_status(sample_results(cases=passing)) == 0
    assert exit_status(sample_results(cases=cases)) == 1
    for verdict in (Verdict.FAIL, Verdict.UNSUPPORTED, Verdict.ERROR, Verdict.SKIPPED):
        one_bad = [*passing, passing[0].model_copy(update={"case_id": "x", "verdict": verdict})]
        assert exit_status(sample_results(cases=one_bad)) == 1, verdict
    assert exit_status(sample_results(cases=[])) == 1, "a run that proved nothing is not a pass"


def test_default_provider_and_directory_names() -> None:
    assert default_provider("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"
    assert default_provider("https://api.example.com/v1") == "api.example.com"
    assert path_slug("127.0.0.1:8080") == "127.0.0.1-8080"
    assert path_slug("../../etc") == "etc"
    assert path_slug("My Provider/EU") == "My-Provider-EU"
    assert path_slug("..") == "unnamed"


def test_fuzz_command_is_wired_and_unreachable_is_a_usage_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = conformance("fuzz", "--base-url", url, "--api-key", LEAKED_KEY, "--max-examples", "1")
    assert_usage_error(proc, "cannot reach", url)
    assert LEAKED_KEY not in proc.stdout + proc.stderr
