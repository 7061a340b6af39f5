"""The flags of `conformance run`, and the RunOptions they ask for.

Apart from conformance.cli so that other command lines that take the same flags (selfrun) read them
the same way without importing the CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conformance.argtypes import positive_float, positive_int
from conformance.credentials import API_KEY_ENV
from conformance.engine import RunOptions
from conformance.fuzz import cli as fuzz_cli


def add_selection(parser: argparse.ArgumentParser) -> None:
    """--only, --exclude and --cases-dir: which cases (shared by run and list)."""
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        action="extend",
        nargs="+",
        default=[],
        help="only cases whose id or endpoint/parameter row matches this glob, e.g. 'chat.completions/stop' "
        "or 'chat.*' (repeatable; `conformance list --only P` previews the selection)",
    )
    parser.add_argument(
        "--exclude",
        metavar="PATTERN",
        action="extend",
        nargs="+",
        default=[],
        help="leave out cases matching this glob (repeatable)",
    )
    parser.add_argument(
        "--cases-dir", type=Path, metavar="DIR", help="read the YAML cases from DIR (or one case file, e.g. a recorded cassette) instead of specs/cases"
    )


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--base-url",
        metavar="URL",
        help="the API root, e.g. http://127.0.0.1:8080/v1 (default: the --provider profile's base_url)",
    )
    run.add_argument("--model", metavar="M", help="model to test (default: the first one GET /models lists)")
    run.add_argument(
        "--api-key", metavar="K", help=f"API key sent as a bearer token (default: the --provider profile's key variable, then ${API_KEY_ENV})"
    )
    run.add_argument(
        "--provider",
        metavar="NAME",
        help="name for the reports (default: the base URL's host); a profile in specs/providers/ "
        "(or a profile .yaml path) also gives the default base URL, the API key variable and the "
        "documented claims the reports compare with the measurement",
    )
    run.add_argument(
        "--baseline",
        type=Path,
        metavar="OLD/results.json",
        help="gate on regressions against an earlier run: exit 1 only when a cell got worse, 0 otherwise",
    )
    add_selection(run)
    run.add_argument(
        "--concurrency", type=positive_int, default=4, metavar="N", help="cases in flight (default 4)"
    )
    run.add_argument(
        "--timeout", type=positive_float, default=60.0, metavar="S", help="seconds per case (default 60)"
    )
    run.add_argument(
        "--out", type=Path, metavar="DIR", help="report directory (default: reports/<provider>/)"
    )
    run.add_argument(
        "--sdk",
        default="python",
        metavar="LIST",
        help="official SDKs that make the cases' SDK calls, comma-separated: python (default), node "
        "(the openai npm package; needs Node.js and scripts/setup-venv); the first makes the matrix, "
        "the others replay the SDK cases and get their own report section",
    )
    fuzz_cli.add_run_fuzz_arguments(run)


# Flags that are RunOptions fields of the same name and meaning: `run` and `replay` both take them.
SHARED_FLAGS = ("base_url", "model", "api_key", "provider", "baseline", "only", "exclude", "concurrency", "timeout", "out")


def shared_options(args: argparse.Namespace) -> dict[str, Any]:
    """The RunOptions fields the SHARED_FLAGS give, for a command's own RunOptions(**...)."""
    return {name: getattr(args, name) for name in SHARED_FLAGS}


def run_options(args: argparse.Namespace) -> RunOptions:
    """The options parsed `run` flags ask for (fuzz flags without --fuzz N are a UsageError)."""
    return RunOptions(
        **shared_options(args), cases_dir=args.cases_dir, sdks=args.sdk, fuzz=fuzz_cli.run_fuzz_plan(args)
    )
