"""The main job in one process: the reference server on the bundled model, then a run against it.

It exists so that a new user (and CI) can see the whole tool work with one command, without
juggling a background server by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rich.console import Console

from conformance import engine, node_sdk, run_args, terminal
from conformance.credentials import API_KEY_ENV
from conformance.providers import find_profile
from conformance.reports.claims import documents_refusal
from conformance.results import CaseResult, RunResults, Verdict
from reference_server.launcher import ServerStartError, running_server

PROVIDER = "reference-server"
# The SDK cases are replayed through the openai npm package too when Node.js is set up, and a short
# fuzz of every endpoint rides along, so the main job's report has its robustness section;
# the documented 1000-per-endpoint run is `conformance fuzz` (README, reports/fuzz/).
DEFAULT_FUZZ = ["--fuzz", "10", "--fuzz-seed", "1", "--fuzz-budget", "600"]


def undocumented_shortfalls(results: RunResults) -> list[CaseResult]:
    """Cases that did not pass, except refusals the provider's profile documents as unsupported.

    The reference server refuses, with OpenAI's error envelope, what its model cannot do (e.g.
    `suffix` without fill-in-the-middle tokens) and documents it in specs/providers/; such a refusal
    is the truth, shown as "rejected" in every report, but it is not a defect of the main job.
    """
    profile = find_profile(PROVIDER)
    return [
        case
        for case in [*results.cases, *results.sdk_cases]
        if case.verdict is not Verdict.PASS and not documents_refusal(profile, case)
    ]


def _given(extra: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(f"{flag}=") for arg in extra)


def _arguments(extra: list[str]) -> list[str]:
    """The run's arguments: the defaults unless the user gave their own."""
    if not _given(extra, "--fuzz"):
        extra = [*extra, *DEFAULT_FUZZ]
    if not _given(extra, "--sdk"):
        problem = node_sdk.setup_problem()
        if problem is None:
            extra = [*extra, "--sdk", "python,node"]
        else:
            print(f"the SDK cases run through the Python SDK only: {problem}", file=sys.stderr)
    return extra


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.selfrun",
        description="Start the reference server on the bundled model and run the suite against it; "
        "takes the flags of `conformance run` (--base-url and --provider default to the server).",
    )
    run_args.add_run_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the reference server, then `conformance run --base-url <it> --provider reference-server ARGS`.

    Exit 0 when every case passed or was refused as the profile documents and fuzzing found nothing;
    otherwise the run's status.
    """
    args = _parser().parse_args(_arguments(list(sys.argv[1:] if argv is None else argv)))  # bad flags: exit 2 now
    stdout, stderr = terminal.consoles()
    secrets = [args.api_key, os.environ.get(API_KEY_ENV)]
    return terminal.guarded(lambda: _main_job(args, stdout, stderr), secrets)


def _main_job(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    options = run_args.run_options(args)
    options.provider = options.provider or PROVIDER
    print("starting the reference server on the bundled model...", file=sys.stderr)
    try:
        with running_server() as srv:
            print(f"reference server ready at {srv.base_url}", file=sys.stderr)
            options.base_url = options.base_url or srv.base_url
            outcome = terminal.run_prepared(engine.prepare(options), stdout, stderr)
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if outcome.status != engine.EXIT_FAILURES:
        return outcome.status
    results, out = outcome.results, outcome.prepared.out_dir
    shortfalls = undocumented_shortfalls(results)
    every = [*results.cases, *results.sdk_cases]
    documented = [c for c in every if c.verdict is not Verdict.PASS and c not in shortfalls]
    fuzz_failed = results.fuzz is not None and not results.fuzz.ok
    failed = bool(shortfalls) or fuzz_failed
    parts = []
    if documented:
        names = ", ".join(sorted({f"{c.endpoint}/{c.parameter}" for c in documented}))
        parts.append(f"{len(documented)} case(s) refused as specs/providers/{PROVIDER}.yaml documents ({names})")
    parts.append(f"{len(shortfalls)} other case(s) did not pass")
    if results.fuzz is not None:
        parts.append(f"fuzzing found {results.fuzz.total_failures} problem(s)" if fuzz_failed else "fuzzing found nothing")
    print(f"main job {'fails' if failed else 'passes'}: " + "; ".join(parts) + f" (see {out}/matrix.md)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
