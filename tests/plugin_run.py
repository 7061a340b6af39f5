"""The whole suite run once through the pytest plugin, in a child pytest, for the tests that judge a full run.

A full run takes one to two minutes on the reference server. test_harness_suite (every verdict and
cell) and test_pytest_plugin (every item) judge this one run, made the way CI would make it
(`pytest --conformance-base-url URL ...` in a directory of its own), instead of running the suite twice.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from conformance.results import RunResults, load


def outcomes_by_case(junit_xml: Path) -> dict[str, str]:
    """case id -> PASSED / FAILED / ERROR / SKIPPED / XFAIL, from pytest's own --junitxml file."""
    out = {}
    for testcase in ElementTree.parse(junit_xml).iter("testcase"):
        skipped = testcase.find("skipped")
        if testcase.find("failure") is not None:
            word = "FAILED"
        elif testcase.find("error") is not None:
            word = "ERROR"
        elif skipped is not None:
            word = "XFAIL" if skipped.get("type") == "pytest.xfail" else "SKIPPED"
        else:
            word = "PASSED"
        out[str(testcase.get("name"))] = word
    return out


@dataclass
class PluginRun:
    returncode: int
    outcomes: dict[str, str]  # what pytest made of each case
    results: RunResults  # the --conformance-report results.json of the same run
    seconds: float
    output: str


def run_whole_suite(base_url: str, workdir: Path, provider: str) -> PluginRun:
    report, junit = workdir / "report", workdir / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "conformance", "--junitxml", str(junit),
        "--conformance-base-url", base_url, "--conformance-provider", provider,
        "--conformance-timeout", "120", "--conformance-report", str(report),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800, check=False)
    output = done.stdout + done.stderr
    if not (report / "results.json").is_file() or not junit.is_file():
        raise AssertionError(f"pytest wrote no results.json or junit.xml (exit {done.returncode}):\n{output[-4000:]}")
    return PluginRun(
        returncode=done.returncode,
        outcomes=outcomes_by_case(junit),
        results=load(report / "results.json"),
        seconds=time.monotonic() - started,
        output=output,
    )
