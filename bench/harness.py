"""The harness's own cost: its overhead in a real run, and its speed against a server that costs nothing.

Overhead. A run's wall time splits into time when at least one request was in flight (the server, or
the loopback between, was answering) and time when none was: loading cases, resolving the model,
judging answers and scheduling while the server sat idle. The second part is the harness's overhead.
Each request's span is the one the harness records as its Exchange's `duration_s` (CallOutcome start
to end); with several cases in flight (concurrency 4 by default) those spans overlap, so summing them
would count the server several times over (and dividing by the concurrency assumes it is always full).
The union of the spans is the time the server had work; overhead = wall - union. Harness work done
while a request is in flight is not counted, because it delays nothing: the server is busy anyway.

Speed limit. Against the replay stub (every case runs all its steps, answers cost ~nothing), cases per
second is what the harness itself can sustain; compared with cases per second against the reference
server it shows how far the harness is from being the bottleneck.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.call_log import observe_calls, union_length
from bench.replay_stub import record, running_stub, stub_stats
from bench.stats import summary
from conformance.api import RunConfig, run_suite
from conformance.results import RunResults


def _run(base_url: str, only: list[str]) -> tuple[RunResults, dict[str, Any], list[Any]]:
    with observe_calls() as log:
        cpu = time.process_time()
        started = time.monotonic()
        results = run_suite(RunConfig(base_url=base_url, only=list(only)))
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu
    busy = union_length(log.intervals())
    exchanges = {id(o): o for o in log.outcomes}  # each call once, though shared baselines show in many cases
    return (
        results,
        {
            "cases": len(results.cases),
            "verdicts": results.counts(),
            "wall_s": wall,
            "requests": len(exchanges),
            "sum_request_s": sum(o.duration for o in exchanges.values()),
            "busy_s": busy,
            "overhead_s": wall - busy,
            "overhead_share": (wall - busy) / wall,
            "harness_cpu_s": cpu,
            "cases_per_s": len(results.cases) / wall,
        },
        log.outcomes,
    )


def measure_overhead(
    base_url: str, only: list[str], runs: int, recording: Path, log: Callable[[str], None]
) -> tuple[dict[str, Any], RunResults]:
    """Runs the suite `runs` times; the first run's answers are saved as the stub's recording."""
    figures = []
    first: RunResults | None = None
    for run in range(runs):
        results, fig, outcomes = _run(base_url, only)
        if first is None:
            first = results
            record(outcomes, results.run.model, recording)
        figures.append(fig)
        log(
            f"  suite run {run + 1}: {fig['cases']} cases in {fig['wall_s']:.1f} s, busy {fig['busy_s']:.1f} s, "
            f"overhead {fig['overhead_s']:.2f} s ({100 * fig['overhead_share']:.1f}%), harness CPU {fig['harness_cpu_s']:.1f} s"
        )
    assert first is not None
    out = {
        "cases": figures[0]["cases"],
        "verdicts": figures[0]["verdicts"],
        "concurrency": first.run.options.get("concurrency"),
        "requests": figures[0]["requests"],
        "runs": figures,
    }
    for name, digits in [("wall_s", 3), ("busy_s", 3), ("overhead_s", 3), ("overhead_share", 4), ("harness_cpu_s", 3),
                         ("sum_request_s", 3), ("cases_per_s", 3)]:  # fmt: skip
        out[name] = summary([f[name] for f in figures], digits=digits)
    return out, first


def measure_stub_speed(
    recording: Path, only: list[str], runs: int, reference: RunResults, workdir: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    figures = []
    agreement: list[float] = []
    stats: dict[str, int] = {}
    with running_stub(recording, workdir / "stub.log") as base_url:
        for run in range(runs):
            results, fig, _ = _run(base_url, only)
            figures.append(fig)
            agreement.append(_agreement(reference, results))
            log(f"  stub run {run + 1}: {fig['cases']} cases in {fig['wall_s']:.2f} s = {fig['cases_per_s']:.1f} cases/s")
        stats = stub_stats(base_url)
    return {
        "cases": figures[0]["cases"],
        "cases_per_s": summary([f["cases_per_s"] for f in figures], digits=2),
        "wall_s": summary([f["wall_s"] for f in figures], digits=3),
        "harness_cpu_s": summary([f["harness_cpu_s"] for f in figures], digits=3),
        "requests_per_run": figures[0]["requests"],
        "verdicts_same_as_reference_run": summary(agreement),
        "stub_requests": stats,
    }


def _agreement(reference: RunResults, other: RunResults) -> float:
    """Share of cases whose verdict matches the reference run: did the stub make the harness do the same work?"""
    ref = {c.case_id: c.verdict for c in reference.cases}
    same = Counter(ref.get(c.case_id) == c.verdict for c in other.cases)
    return same[True] / max(1, len(other.cases))
