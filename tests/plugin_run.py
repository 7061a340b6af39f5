"""The whole suite run once through the pytest plugin, in a child pytest, for the tests that judge a full run.

A full run takes one to two minutes on the reference server. test_harness_suite (every verdict and
cell) and test_pytest_plugin (every item) judge this one run, made the way CI would make it
(`pytest --conformance-base-url URL ...` in a directory of its own), instead of running the suite twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from conformance.results import RunResults, load

# `-v` prints one line per item: "<file>::<case id> PASSED [ 12%]" (SKIPPED and XFAIL add the reason).
_OUTCOME_LINE = re.compile(r"^\S+::(\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


def outcomes_by_case(lines: Iterable[str]) -> dict[str, str]:
    """case id -> PASSED / FAILED / ERROR / SKIPPED / XFAIL / XPASS, from a `-v` run's output."""
    return {m[1]: m[2] for line in lines if (m := _OUTCOME_LINE.match(line))}


@dataclass
class PluginRun:
    returncode: int
    outcomes: dict[str, str]  # what pytest made of each case
    results: RunResults  # the --conformance-report results.json of the same run
    seconds: float
    output: str


def run_whole_suite(base_url: str, workdir: Path, provider: str) -> PluginRun:
    report = workdir / "report"
    command = [
        sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-m", "conformance",
        "--conformance-base-url", base_url, "--conformance-provider", provider,
        "--conformance-timeout", "120", "--conformance-report", str(report),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800, check=False)
    output = done.stdout + done.stderr
    if not (report / "results.json").is_file():
        raise AssertionError(f"pytest wrote no results.json (exit {done.returncode}):\n{output[-4000:]}")
    return PluginRun(
        returncode=done.returncode,
        outcomes=outcomes_by_case(done.stdout.splitlines()),
        results=load(report / "results.json"),
        seconds=time.monotonic() - started,
        output=output,
    )
