"""The engine alone (conformance.engine.run) makes the run `conformance run` makes, against the real reference server.

The CLI is a thin layer over the engine, so the same options must give the same results.json: the
same cases with the same verdicts and checks, the same cells. Only what differs from run to run by
nature (timestamps, durations, the ids and times in the server's answers) is left out of the comparison.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from test_cli import conformance as cli_run

import conformance
from conformance import engine
from conformance.errors import UsageError
from conformance.results import CaseResult, RunResults, load
from reference_server.launcher import RunningServer

ONLY = ["chat.basic", "models.*"]


def comparable(results: RunResults) -> dict[str, Any]:
    """What two runs of the same options must agree on."""

    def case(c: CaseResult) -> dict[str, Any]:
        return {
            **c.model_dump(mode="json", include={"case_id", "endpoint", "parameter", "profile", "verdict", "reason",
                                                 "failure_kind", "sdk", "wire", "violations", "attributed"}),
            "checks": [(check.expectation, check.passed) for check in c.checks],
        }  # fmt: skip

    return {
        "run": results.run.model_dump(mode="json", include={"provider", "base_url", "model", "options"}),
        "cases": [case(c) for c in results.cases],
        "sdk_cases": [case(c) for c in results.sdk_cases],
        "cells": [cell.model_dump(mode="json") for cell in results.cells],
        "profile": results.provider_profile is not None,
        "baseline": results.baseline is not None,
    }


class Recorder(engine.QuietListener):
    def __init__(self) -> None:
        self.total: int | None = None
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def started(self, total: int) -> None:
        self.total = total

    def case_finished(self, result: CaseResult) -> None:
        with self._lock:
            self.finished.append(result.case_id)


def test_the_library_call_alone_writes_the_results_json_of_the_cli(server: RunningServer, tmp_path: Path) -> None:
    by_cli, by_engine = tmp_path / "cli", tmp_path / "engine"
    proc = cli_run(
        "run", "--base-url", server.base_url, "--provider", "reference-server", "--only", *ONLY, "--out", str(by_cli)
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    listener = Recorder()
    options = engine.RunOptions(base_url=server.base_url, provider="reference-server", only=ONLY, out=by_engine)
    outcome = conformance.run(options, listener)  # the library call, as a script would make it

    assert outcome.status == proc.returncode == engine.EXIT_OK
    assert sorted(outcome.written) == ["html", "json", "junit", "md"]
    assert comparable(load(by_engine / "results.json")) == comparable(load(by_cli / "results.json"))
    assert comparable(outcome.results) == comparable(load(by_engine / "results.json"))
    assert outcome.results.provider_profile is not None and outcome.results.provider_profile.name == "reference-server"
    assert listener.total == len(outcome.results.cases) and sorted(listener.finished) == sorted(
        c.case_id for c in outcome.results.cases
    )

    # The CLI's run as the baseline of a library run that writes nothing: nothing got worse.
    gated = engine.run(
        engine.RunOptions(base_url=server.base_url, only=ONLY, baseline=by_cli / "results.json", write_reports=False)
    )
    assert gated.status == engine.EXIT_OK and gated.regressions == 0 and gated.written == {}
    assert gated.results.baseline is not None and gated.results.baseline.baseline_path == str(by_cli / "results.json")


def test_prepare_checks_everything_before_anything_is_measured(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "never"
    for options, message in [
        (engine.RunOptions(), "--base-url is required"),
        (engine.RunOptions(base_url="ftp://127.0.0.1/v1"), re.escape("--base-url must be an http(s) URL")),
        (engine.RunOptions(base_url=server.base_url, only=["no-such-case"], out=out), "no-such-case"),
        (engine.RunOptions(base_url=server.base_url, model="no-such-model", out=out), "no model 'no-such-model'"),
        (engine.RunOptions(base_url=server.base_url, sdks="cobol", out=out), "unknown SDK 'cobol'"),
        (engine.RunOptions(base_url=server.base_url, fuzz=engine.FuzzPlan(examples=1, endpoints=["nope"])), "--fuzz-endpoints"),
    ]:  # fmt: skip
        with pytest.raises(UsageError, match=message):
            engine.prepare(options)
    assert not out.exists()


def test_the_model_is_resolved_once_and_a_preferred_one_is_taken_when_served(server: RunningServer) -> None:
    listed = engine.prepare(engine.RunOptions(base_url=server.base_url, write_reports=False)).model
    preferred = engine.RunOptions(
        base_url=server.base_url, preferred_models=["not-served", listed], write_reports=False
    )
    prepared = engine.prepare(preferred)
    assert prepared.model == listed and prepared.suite().model == listed
    assert prepared.out_dir is None and prepared.provider == engine.default_provider(server.base_url)
