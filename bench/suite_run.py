"""One run of the conformance suite in a fresh process, with every request's span kept.

A fresh interpreter per run is what a user's `conformance run` pays: cases parsed and validated from
YAML, schemas and SDK clients built, connection pools opened, nothing cached from an earlier run.
Run as `python -m bench.suite_run BASE_URL OUT_DIR [--only GLOB ...] [--cases-dir DIR] [--record]`; it writes
OUT_DIR/figures.json, OUT_DIR/results.json (the harness's own format) and, with --record, the
answers for the replay stub as OUT_DIR/recording.json.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before the imports below: their cost is part of the process's life

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.call_log import observe_calls, union_length  # noqa: E402
from bench.replay_stub import record  # noqa: E402
from conformance.api import RunConfig, run_suite  # noqa: E402
from conformance.results import save  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--cases-dir", type=Path, default=None)
    args = parser.parse_args()
    imported = time.monotonic() - STARTED
    with observe_calls() as log:
        cpu = time.process_time()
        started = time.monotonic()
        results = run_suite(RunConfig(base_url=args.base_url, only=args.only, cases_dir=args.cases_dir))
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu
    busy = union_length(log.intervals())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    save(results, args.out_dir / "results.json")
    if args.record:
        record(log.outcomes, results.run.model, args.out_dir / "recording.json")
    figures = {
        "cases": len(results.cases),
        "verdicts": results.counts(),
        "concurrency": results.run.options.get("concurrency"),
        "import_s": imported,  # interpreter start to the harness imported: not in wall_s
        "wall_s": wall,  # run_suite, from loading cases to the last verdict
        "requests": len(log.outcomes),
        "sum_request_s": sum(o.duration for o in log.outcomes),
        "busy_s": busy,
        "overhead_s": wall - busy,
        "overhead_share": (wall - busy) / wall,
        "harness_cpu_s": cpu,
        "cases_per_s": len(results.cases) / wall,
    }
    (args.out_dir / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
