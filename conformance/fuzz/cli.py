"""Command-line glue for fuzzing: `conformance fuzz` and `conformance run --fuzz N`.

conformance/cli.py owns the parser; it wires these in:

    fuzz = commands.add_parser("fuzz", help=..., description=...)
    add_fuzz_arguments(fuzz)
    fuzz.set_defaults(handler=fuzz_main)          # same (args, stdout, stderr) -> int as cmd_run
    ...
    add_run_fuzz_arguments(run)                   # --fuzz N, --fuzz-endpoints, --fuzz-seed, --fuzz-budget
    RunOptions(..., fuzz=run_fuzz_plan(args))     # the engine checks and runs the plan (fuzz/plan.py)

Exit status of `conformance fuzz`: 0 no findings, 1 findings (or an endpoint that could not be
fuzzed), 2 usage error (raised as UsageError, which conformance/cli.py prints in one line).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from conformance import credentials
from conformance.argtypes import non_negative_int, positive_float, positive_int
from conformance.credentials import API_KEY_ENV
from conformance.errors import UsageError
from conformance.fuzz.plan import RUN_FUZZ_BUDGET, FuzzPlan
from conformance.fuzz.results import FuzzResults, FuzzVerdict

EXIT_OK, EXIT_FINDINGS = 0, 1
RESULTS_FILE = "fuzz.json"
LOG_PROGRESS_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal


def _endpoint_help() -> str:
    from conformance.fuzz.overlay import endpoints

    names = ", ".join(e.name for e in endpoints())
    return f"endpoints to fuzz, by name or path (default: all of {names})"


def add_fuzz_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `conformance fuzz`."""
    from conformance.fuzz.runner import DEFAULT_MAX_EXAMPLES, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TIME_BUDGET

    parser.add_argument(
        "--base-url", required=True, metavar="URL", help="the API root, e.g. http://127.0.0.1:8080/v1"
    )
    parser.add_argument(
        "--model", metavar="M", help="model to pin requests to (default: the first one GET /models lists)"
    )
    parser.add_argument(
        "--api-key", metavar="K", help=f"API key sent as a bearer token (default: ${API_KEY_ENV})"
    )
    parser.add_argument(
        "--endpoints", metavar="E", nargs="+", action="extend", default=[], help=_endpoint_help()
    )
    parser.add_argument(
        "--max-examples",
        type=positive_int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help=f"generated requests per endpoint, for valid and again for invalid input, on top of the "
        f"boundary-value cases (default {DEFAULT_MAX_EXAMPLES})",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, metavar="S", help="seed; the same seed replays the same requests"
    )
    parser.add_argument(
        "--time-budget",
        type=positive_float,
        default=DEFAULT_TIME_BUDGET,
        metavar="S",
        help=f"stop generating after S seconds in all (default {DEFAULT_TIME_BUDGET:.0f})",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_float,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="S",
        help=f"seconds a request may take before it counts as a hang (default {DEFAULT_REQUEST_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--no-coverage", action="store_true", help="skip the deterministic boundary-value cases"
    )
    parser.add_argument(
        "--continue-on-failure",
        action="store_true",
        help="keep generating after a finding (finds more, but findings are not shrunk to the smallest request)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"also write {RESULTS_FILE} here")


def add_run_fuzz_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags `conformance run` gets to include a fuzz run in its report (off unless --fuzz N)."""
    parser.add_argument(
        "--fuzz",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="also fuzz with N generated requests per endpoint and input kind (default 0: no fuzzing)",
    )
    parser.add_argument(
        "--fuzz-endpoints", metavar="E", nargs="+", action="extend", default=[], help=_endpoint_help()
    )
    parser.add_argument(
        "--fuzz-seed", type=non_negative_int, metavar="S", help="fuzzing seed (default: random, recorded)"
    )
    parser.add_argument(
        "--fuzz-budget",
        type=positive_float,
        metavar="S",
        help=f"seconds fuzzing may take in all (default {RUN_FUZZ_BUDGET:.0f})",
    )


def run_fuzz_plan(args: argparse.Namespace) -> FuzzPlan:
    """The plan the --fuzz flags ask for; fuzz flags without --fuzz N would be ignored, so they are refused."""
    if not args.fuzz:
        given = [
            flag
            for flag, value in (
                ("--fuzz-endpoints", args.fuzz_endpoints),
                ("--fuzz-seed", args.fuzz_seed),
                ("--fuzz-budget", args.fuzz_budget),
            )
            if value not in (None, [])
        ]
        if given:
            raise UsageError(f"{', '.join(given)} only take effect with --fuzz N (N generated requests per endpoint)")
    return FuzzPlan(examples=args.fuzz, endpoints=list(args.fuzz_endpoints), seed=args.fuzz_seed, budget=args.fuzz_budget)


def progress(console: Console) -> tuple[AbstractContextManager[Any], Callable[[str], None]]:
    """A spinner on a terminal; elsewhere (CI logs, pipes) a plain line at most every 30 s."""
    if console.is_terminal:
        status = console.status("fuzzing", spinner="dots")
        return status, lambda message: status.update(f"fuzzing: {message}")
    last = [float("-inf")]

    def line(message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= LOG_PROGRESS_EVERY:
            last[0] = now
            console.print(Text(f"fuzzing: {message}"))

    return nullcontext(), line


def fuzz_main(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    """`conformance fuzz`: run, print the findings with their curl commands, optionally save JSON."""
    from conformance.fuzz.runner import run_fuzz

    api_key = credentials.api_key(args.api_key)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    status, update = progress(stderr)
    with status:
        results = run_fuzz(
            args.base_url.rstrip("/"),
            model=args.model,
            api_key=api_key,
            endpoints=list(args.endpoints) or None,
            max_examples=args.max_examples,
            seed=args.seed,
            timeout=args.time_budget,
            request_timeout=args.request_timeout,
            coverage=not args.no_coverage,
            continue_on_failure=args.continue_on_failure,
            progress=update,
        )
    print_fuzz_summary(stdout, results)
    if args.out is not None:
        path = args.out / RESULTS_FILE
        try:
            path.write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        stdout.print(Text(f"Fuzz results in {path}"))
    return EXIT_OK if results.ok else EXIT_FINDINGS


_STYLE = {FuzzVerdict.PASS: "green", FuzzVerdict.FAIL: "red", FuzzVerdict.ERROR: "yellow"}


def print_fuzz_summary(console: Console, results: FuzzResults) -> None:
    """A robustness table per endpoint, then every finding with the request that reproduces it."""
    table = Table(
        title=f"Fuzzing {results.base_url} ({results.model}), seed {results.seed}", title_justify="left"
    )
    for column in ("endpoint", "verdict", "valid", "invalid", "findings"):
        table.add_column(column, no_wrap=column != "findings")
    for endpoint in results.endpoints:
        table.add_row(
            Text(endpoint.endpoint),
            Text(endpoint.verdict.value, style=_STYLE[endpoint.verdict]),
            str(endpoint.positive_requests),
            str(endpoint.negative_requests),
            Text(
                ", ".join(sorted({f.title for f in endpoint.failures})) or "; ".join(endpoint.errors) or "-"
            ),
        )
    console.print(table)
    index = 0
    for endpoint in results.endpoints:
        for failure in endpoint.failures:
            index += 1
            kind = "valid" if failure.mode == "positive" else "invalid"
            status = f" -> {failure.status}" if failure.status is not None else ""
            console.print(
                Text(
                    f"\n{index}. {endpoint.endpoint}: {failure.title} ({kind} request{status})", style="bold"
                )
            )
            console.print(Text(failure.message.strip()))
            if failure.curl:
                console.print(Text("Reproduce with:", style="dim"))
                console.print(Text(failure.curl), soft_wrap=True)
    for endpoint in results.endpoints:
        for error in endpoint.errors:
            console.print(Text(f"\n{endpoint.endpoint}: not fully fuzzed: {error}", style="yellow"))
    if results.stop_reason != "completed":
        console.print(Text(f"\nStopped early: {results.stop_reason} (see --time-budget)", style="yellow"))
    console.print(
        Text(
            f"\n{results.total_requests} requests, {results.total_failures} finding(s); replay with --seed {results.seed}"
        )
    )
