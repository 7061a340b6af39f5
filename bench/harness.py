"""The harness's own cost: its overhead in a real run, and its speed against a server that costs nothing.

Overhead. A run's wall time splits into time when at least one request was in flight (the server, or
the loopback between, was answering) and time when none was: loading cases, resolving the model,
judging answers and scheduling while the server sat idle. The second part is the harness's overhead.
Each request's span is the one the harness records as its Exchange's `duration_s` (CallOutcome start
to end); with several cases in flight (concurrency 4 by default) those spans overlap, so summing them
would count the server several times over (and dividing by the concurrency assumes it is always full).
The union of the spans is the time the server had work; overhead = wall - union. Harness work done
while a request is in flight is not counted, because it delays nothing: the server is busy anyway.

Every run is a fresh process (bench.suite_run), as a user's `conformance run` is: nothing is cached
from an earlier run, so first-run costs (parsing and validating the case files) count every time.

Speed limit. Against the replay stub (every case runs all its steps, answers cost ~nothing), cases per
second is what the harness itself can sustain; compared with cases per second against the reference
server it shows how far the harness is from being the bottleneck.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.replay_stub import REPO, running_stub, stub_stats
from bench.stats import summary
from conformance.results import RunResults, load


def committed_cases(workdir: Path) -> Path | None:
    """The suite's cases as committed (HEAD), so files being edited in the tree cannot break a run."""
    target = workdir / "cases-at-head"
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "HEAD", "specs/cases"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        return None
    unpacked = subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, capture_output=True)
    cases = target / "specs" / "cases"
    return cases if unpacked.returncode == 0 and cases.is_dir() else None


def _run(
    base_url: str, only: list[str], out_dir: Path, cases_dir: Path | None, *, record: bool = False
) -> tuple[RunResults, dict[str, Any]]:
    """One suite run in a fresh process (bench.suite_run): its results and figures."""
    cmd = [sys.executable, "-m", "bench.suite_run", base_url, str(out_dir), *(f"--only={g}" for g in only)]
    if cases_dir is not None:
        cmd.append(f"--cases-dir={cases_dir}")
    if record:
        cmd.append("--record")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    process_s = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"suite run failed ({done.returncode}): {done.stderr[-2000:]}")
    figures = json.loads((out_dir / "figures.json").read_text(encoding="utf-8"))
    figures["process_s"] = process_s
    return load(out_dir / "results.json"), figures


_SUMMARISED = [("wall_s", 3), ("busy_s", 3), ("overhead_s", 3), ("overhead_share", 4), ("harness_cpu_s", 3),
               ("sum_request_s", 3), ("cases_per_s", 3), ("import_s", 3), ("process_s", 3)]  # fmt: skip


def measure_overhead(
    base_url: str, only: list[str], runs: int, workdir: Path, cases_dir: Path | None, log: Callable[[str], None]
) -> tuple[dict[str, Any], RunResults, Path]:
    """Runs the suite `runs` times; the first run's answers are recorded for the replay stub."""
    figures = []
    first: RunResults | None = None
    for run in range(runs):
        results, fig = _run(base_url, only, workdir / f"suite-{run + 1}", cases_dir, record=first is None)
        first = first or results
        figures.append(fig)
        log(
            f"  suite run {run + 1}: {fig['cases']} cases in {fig['wall_s']:.1f} s, busy {fig['busy_s']:.1f} s, "
            f"overhead {fig['overhead_s']:.2f} s ({100 * fig['overhead_share']:.1f}%), harness CPU {fig['harness_cpu_s']:.1f} s"
        )
    assert first is not None
    out: dict[str, Any] = {
        "cases": figures[0]["cases"],
        "verdicts": figures[0]["verdicts"],
        "concurrency": figures[0]["concurrency"],
        "requests": figures[0]["requests"],
        "runs": figures,
    }
    for name, digits in _SUMMARISED:
        out[name] = summary([f[name] for f in figures], digits=digits)
    return out, first, workdir / "suite-1" / "recording.json"


def measure_stub_speed(
    recording: Path,
    only: list[str],
    runs: int,
    reference: RunResults,
    workdir: Path,
    cases_dir: Path | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    figures = []
    agreement: list[float] = []
    stats: dict[str, int] = {}
    with running_stub(recording, workdir / "stub.log") as base_url:
        for run in range(runs):
            results, fig = _run(base_url, only, workdir / f"stub-{run + 1}", cases_dir)
            figures.append(fig)
            agreement.append(_agreement(reference, results))
            log(f"  stub run {run + 1}: {fig['cases']} cases in {fig['wall_s']:.2f} s = {fig['cases_per_s']:.1f} cases/s")
        stats = stub_stats(base_url)
    out: dict[str, Any] = {
        "cases": figures[0]["cases"],
        "requests_per_run": figures[0]["requests"],
        "verdicts_same_as_reference_run": summary(agreement),
        "stub_requests": stats,
        "runs": figures,
    }
    for name, digits in _SUMMARISED:
        out[name] = summary([f[name] for f in figures], digits=digits)
    return out


def _agreement(reference: RunResults, other: RunResults) -> float:
    """Share of cases whose verdict matches the reference run: did the stub make the harness do the same work?"""
    ref = {c.case_id: c.verdict for c in reference.cases}
    same = Counter(ref.get(c.case_id) == c.verdict for c in other.cases)
    return same[True] / max(1, len(other.cases))
