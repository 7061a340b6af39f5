"""Do repeated runs against one server give the same behaviour cells? The flip count a user never sees.

A verdict that changes between two runs of the same harness against the same server is wrong in at
least one of them, so this is measured, not assumed: N full runs (at each concurrency asked for), one
after the other, and every cell whose behaviour state is not the same in all of them is listed with
the states it took. Run as

    python -m bench.stability --base-url URL [--model M] [--runs 5] [--concurrency 1 --concurrency 4]
        [--only GLOB ...] [--out bench/stability.json]

It prints one line per run and a summary; --out keeps every run's cells for a closer look.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from conformance.api import RunConfig, run_suite
from conformance.errors import UsageError


def cells_of_run(config: RunConfig) -> tuple[dict[str, str], float]:
    started = time.monotonic()
    results = run_suite(config)
    return {f"{c.endpoint}/{c.parameter}": c.state.value for c in results.cells}, time.monotonic() - started


def flips(runs: list[dict[str, str]]) -> dict[str, list[str]]:
    """Cells whose state is not the same in every run (missing from a run counts as a state)."""
    every = sorted(set().union(*runs))
    seen = {cell: [run.get(cell, "missing") for run in runs] for cell in every}
    return {cell: states for cell, states in seen.items() if len(set(states)) > 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stability", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 to compare runs")
    report: dict[str, object] = {"base_url": args.base_url, "runs": args.runs, "by_concurrency": {}}
    all_runs: list[dict[str, str]] = []
    for concurrency in args.concurrency or [1]:
        config = RunConfig(
            base_url=args.base_url.rstrip("/"), model=args.model, only=args.only,
            concurrency=concurrency, timeout=args.timeout,
        )  # fmt: skip
        runs = []
        for index in range(args.runs):
            try:
                cells, seconds = cells_of_run(config)
            except UsageError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            runs.append(cells)
            supported = sum(1 for s in cells.values() if s == "supported")
            print(f"concurrency {concurrency} run {index + 1}/{args.runs}: {len(cells)} cells, "
                  f"{supported} supported, {seconds:.0f} s", flush=True)  # fmt: skip
        changed = flips(runs)
        print(f"concurrency {concurrency}: {len(changed)} of {len(runs[0])} cells differ between runs")
        for cell, states in changed.items():
            print(f"  {cell}: {' | '.join(states)}")
        report["by_concurrency"][str(concurrency)] = {"flips": changed, "runs": runs}  # type: ignore[index]
        all_runs += runs
    if len(args.concurrency) > 1:
        across = flips(all_runs)
        print(f"all concurrencies together: {len(across)} cells differ")
        for cell, states in across.items():
            print(f"  {cell}: {' | '.join(states)}")
        report["flips_across_concurrency"] = across
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
