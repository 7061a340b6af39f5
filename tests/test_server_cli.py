"""`reference-server` on the command line: bad input ends in one line and a non-zero exit; options work."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reference_server.cli import main
from reference_server.launcher import free_port, running_server
from reference_server.model_files import bundled_model_path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_server", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "REFERENCE_SERVER_API_KEY": ""},
    )


def test_missing_model_file_is_one_line_without_traceback() -> None:
    result = run_cli("--model", "/no/such/model.gguf")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["reference-server: error: model file not found: /no/such/model.gguf"]
    assert result.stdout == ""


def test_console_script_help() -> None:
    script = Path(sys.executable).with_name("reference-server")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--model", "--model-id", "--host", "--port", "--n-ctx", "--threads", "--api-key"):
        assert option in result.stdout


def _bad(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reference-server: error: ")
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "abc"], "--port"),
        (["--port", "0"], "between 1 and 65535"),
        (["--n-ctx", "-5"], "0 or more"),
        (["--threads", "0"], "at least 1"),
        (["--model-id", "a", "--model-id", "b"], "2 model ids given for 1 model"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_arguments(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert expected in _bad(args, capsys)


def test_files_that_are_not_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    assert "not a GGUF model file" in _bad(["--model", str(text)], capsys)
    assert "not a file" in _bad(["--model", str(tmp_path)], capsys)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    assert "could not load model" in _bad(["--model", str(broken)], capsys)


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert "already in use" in _bad(["--port", str(port)], capsys)


def test_several_models_with_ids_and_a_small_context(tmp_path: Path) -> None:
    path = str(bundled_model_path())
    args = ["--model", path, "--model-id", "first", "--model", path, "--alias", "second", "--n-ctx", "512", "--threads", "1"]
    with running_server(args, log_path=str(tmp_path / "server.log")) as srv:
        assert [m["id"] for m in httpx.get(f"{srv.base_url}/models").json()["data"]] == ["first", "second"]
        hi = [{"role": "user", "content": "hi"}]
        reply = httpx.post(
            f"{srv.base_url}/chat/completions", json={"model": "second", "messages": hi, "max_tokens": 2}, timeout=60
        )
        assert reply.status_code == 200 and reply.json()["model"] == "second"
        too_long = httpx.post(
            f"{srv.base_url}/chat/completions",
            json={"model": "first", "messages": [{"role": "user", "content": "word " * 600}]},
            timeout=60,
        ).json()["error"]
        assert too_long["code"] == "context_length_exceeded" and "512" in too_long["message"]


def test_api_key_from_the_environment() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--port", str(port), "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "REFERENCE_SERVER_API_KEY": "env-key-123"},
    )
    url = f"http://127.0.0.1:{port}/v1/models"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                first = httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert first.status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer env-key-123"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
