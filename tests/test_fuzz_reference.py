"""The reference server comes out of fuzzing clean, and the fuzz CLI behaves as documented.

CI runs a small budget (about half a minute); the documented command for the full run (1000
generated requests per endpoint and input kind) is in the fuzzing section of the README.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from conformance.errors import UsageError
from conformance.fuzz.cli import add_fuzz_arguments, add_run_fuzz_arguments, fuzz_main, run_fuzz_plan
from conformance.fuzz.overlay import Mode, endpoints
from conformance.fuzz.results import FuzzResults, FuzzVerdict
from conformance.fuzz.runner import run_fuzz
from reference_server.launcher import RunningServer

CI_EXAMPLES = 8


def _report(results: FuzzResults) -> str:
    lines = []
    for endpoint in results.endpoints:
        lines += [f"{endpoint.endpoint}: {error}" for error in endpoint.errors]
        lines += [f"{f.endpoint} [{f.mode}] {f.title}: {f.message}\n  {f.curl}" for f in endpoint.failures]
    return "\n".join(lines)


def test_reference_server_comes_out_clean(server: RunningServer) -> None:
    results = run_fuzz(
        server.base_url,
        max_examples=CI_EXAMPLES,
        seed=20240601,
        coverage=False,
        timeout=300,
        modes=(Mode.POSITIVE, Mode.NEGATIVE),
    )
    assert results.ok, _report(results)
    assert {e.endpoint for e in results.endpoints} == {e.name for e in endpoints()}
    for endpoint in results.endpoints:
        assert endpoint.verdict is FuzzVerdict.PASS
        assert endpoint.positive_requests > 0
        if endpoint.endpoint not in ("models.list",):  # a GET without parameters has no invalid form
            assert endpoint.negative_requests > 0, endpoint.endpoint
    assert results.stop_reason == "completed"


def test_reference_server_refuses_numbers_spelled_as_strings(server: RunningServer) -> None:
    results = run_fuzz(server.base_url, max_examples=CI_EXAMPLES, seed=20240601, modes=(Mode.COERCION,))
    assert results.ok, _report(results)
    assert all(e.negative_requests > 0 for e in results.endpoints if e.endpoint.endswith("completions"))


def test_boundary_values_on_models_come_out_clean(server: RunningServer) -> None:
    """The coverage phase (boundary values, unexpected methods) on the cheap endpoints."""
    results = run_fuzz(
        server.base_url, endpoints=["models.list", "models.retrieve"], max_examples=5, seed=7, coverage=True
    )
    assert results.ok, _report(results)
    assert results.endpoints[0].negative_requests > 0  # unexpected methods, unknown query parameters


# --- CLI -----------------------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="conformance fuzz", exit_on_error=False)
    add_fuzz_arguments(parser)
    return parser.parse_args(argv)


def _consoles() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, highlight=False), buffer


def test_cli_prints_the_table_and_writes_fuzz_json(server: RunningServer, tmp_path: Path) -> None:
    args = _parse(
        "--base-url",
        server.base_url,
        "--endpoints",
        "/v1/models",
        "--max-examples",
        "3",
        "--seed",
        "5",
        "--out",
        str(tmp_path),
    )
    stdout, text = _consoles()
    stderr, _ = _consoles()
    assert fuzz_main(args, stdout, stderr) == 0
    assert "models.list" in text.getvalue() and "replay with --seed 5" in text.getvalue()
    saved = FuzzResults.model_validate(json.loads((tmp_path / "fuzz.json").read_text()))
    assert saved.seed == 5 and [e.endpoint for e in saved.endpoints] == ["models.list"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--endpoints", "/v1/nope"), "unknown endpoint '/v1/nope'"),
        (("--model", "no-such-model"), "no model 'no-such-model'"),
    ],
)
def test_cli_usage_errors_are_one_line(server: RunningServer, argv: tuple[str, ...], message: str) -> None:
    args = _parse("--base-url", server.base_url, *argv)
    stdout, _ = _consoles()
    with pytest.raises(UsageError, match=message):
        fuzz_main(args, stdout, stdout)


def test_cli_unreachable_server_is_a_usage_error() -> None:
    args = _parse("--base-url", "http://127.0.0.1:9/v1")
    stdout, _ = _consoles()
    with pytest.raises(UsageError, match="cannot reach"):
        fuzz_main(args, stdout, stdout)


@pytest.mark.parametrize("argv", [("--max-examples", "0"), ("--seed", "-1"), ("--time-budget", "nan")])
def test_cli_rejects_bad_values(argv: tuple[str, ...]) -> None:
    with pytest.raises(argparse.ArgumentError):
        _parse("--base-url", "http://x/v1", *argv)


def test_run_fuzz_flags_are_off_by_default(server: RunningServer) -> None:
    parser = argparse.ArgumentParser()
    add_run_fuzz_arguments(parser)
    off = run_fuzz_plan(parser.parse_args([]))
    assert off.run(server.base_url, model="m", api_key=None, request_timeout=30.0, progress=print) is None
    with pytest.raises(UsageError, match="only take effect with --fuzz N"):
        run_fuzz_plan(parser.parse_args(["--fuzz-seed", "1"]))
    on = run_fuzz_plan(parser.parse_args(["--fuzz", "2", "--fuzz-endpoints", "models.list", "--fuzz-seed", "1"]))
    on.check()
    model = httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]
    results = on.run(server.base_url, model=model, api_key=None, request_timeout=30.0, progress=print)
    assert results is not None and results.ok and results.max_examples == 2 and results.seed == 1


def test_module_entry_point_reports_usage_errors_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.fuzz", "--base-url", "http://127.0.0.1:9/v1", "--continue-on-failure"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("conformance fuzz: error: cannot reach") and done.stderr.count("\n") == 1
