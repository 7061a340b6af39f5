"""The `conformance` command: run the suite against a server, list its cases, render reports.

Exit status, the contract a CI job gates on:
  0    every selected case passed (and, with --fuzz N, fuzzing found nothing).
  1    at least one case did not pass: fail, unsupported, error, or skipped. A skipped case proves
       nothing, and it is usually skipped because something it depends on went wrong, so it can
       never turn a run green; narrow the run with --only/--exclude instead.
  2    usage error, reported in one line without a traceback: bad flag or value, malformed or
       unreachable base URL, no model, no case selected, unwritable --out, unreadable results file.
  3    internal error (a bug in this tool): one line; CONFORMANCE_DEBUG=1 shows the traceback.
  130  interrupted (Ctrl-C).

With `run --baseline OLD/results.json` the run is gated on change instead: exit 1 only when a matrix
cell got worse than in OLD (see conformance.compare for the order of states), 0 otherwise, even when
cases fail that failed in OLD too. Cells that are new or gone are listed but never fail the gate;
with --fuzz, an endpoint fuzzed clean in OLD that has findings now is a regression too.
`conformance diff OLD NEW` applies the same rule to two existing results files: 0 no regression,
1 at least one regression, 2 usage error (unreadable file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from conformance import compare, credentials, engine, reports, run_args, terminal
from conformance.api import list_cases
from conformance.errors import UsageError
from conformance.fuzz import cli as fuzz_cli
from conformance.record import cli as record_cli
from conformance.reports.changes import print_changes
from conformance.results import load
from conformance.version import tool_version

EXIT_OK, EXIT_FAILURES = engine.EXIT_OK, engine.EXIT_FAILURES
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = terminal.EXIT_USAGE, terminal.EXIT_INTERNAL, terminal.EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        description="Measure how compatible an OpenAI-compatible server really is.",
        epilog="Exit status: 0 all cases passed, 1 some did not, 2 usage error, 3 internal error; "
        "with run --baseline and with diff: 1 only when a cell got worse.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,list,report,diff,fuzz,record,replay}")

    run = commands.add_parser(
        "run",
        help="run the suite against a server and write its reports",
        description="Run the suite against a server; write results.json, matrix.md, report.html, junit.xml.",
    )
    run_args.add_run_arguments(run)
    run.set_defaults(handler=cmd_run)

    lister = commands.add_parser("list", help="list the suite's cases", description="List the suite's cases.")
    run_args.add_selection(lister)
    lister.set_defaults(handler=cmd_list)

    report = commands.add_parser(
        "report",
        help="render results.json files as a report",
        description="Render one results.json, or several side by side (one column per run).",
    )
    report.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json")
    report.add_argument(
        "--format", choices=sorted(reports.FORMATS), default="md", help="output format (default md)"
    )
    report.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")
    report.set_defaults(handler=cmd_report)

    diff = commands.add_parser(
        "diff",
        help="show how the matrix changed between two runs",
        description="Compare two results.json cell by cell. Exit 0 no cell got worse, 1 some did, 2 usage error.",
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")
    diff.set_defaults(handler=cmd_diff)

    fuzz = commands.add_parser(
        "fuzz",
        help="fuzz the endpoints with requests generated from the OpenAPI spec",
        description="Generated requests, valid and invalid, from OpenAI's OpenAPI spec (schemathesis): "
        "no 5xx, no hang, OpenAI error envelopes for bad input, schema-valid answers for good input. "
        "Exit 0 no findings, 1 findings, 2 usage error.",
    )
    fuzz_cli.add_fuzz_arguments(fuzz)
    fuzz.set_defaults(handler=fuzz_cli.fuzz_main)
    record_cli.add_commands(commands)  # record, replay
    return parser


# --- run ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    """Every check before anything is measured (usage errors exit 2), then the run in the terminal."""
    prepared = engine.prepare(run_args.run_options(args))
    return terminal.run_prepared(prepared, stdout, stderr).status


# --- list and report ---------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    cases = list_cases(args.cases_dir, only=args.only, exclude=args.exclude)
    if not cases:
        raise UsageError(engine.no_cases_message(args.only, args.exclude))
    table = Table(title=f"{len(cases)} cases", title_justify="left")
    for column in ("id", "endpoint", "parameter", "profile"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", overflow="fold", min_width=20)
    for case in cases:
        table.add_row(
            *(Text(str(v)) for v in (case.id, case.endpoint, case.parameter, case.profile, case.title))
        )
    stdout.print(table)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    runs = [load(path) for path in args.results]
    text = reports.render(args.format, runs, [os.environ.get(credentials.API_KEY_ENV)])
    if args.out is None:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
        return EXIT_OK
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    old, new = load(args.old), load(args.new)
    comparison = compare.compare(old, new, str(args.old))
    print_changes(stdout, comparison, [os.environ.get(credentials.API_KEY_ENV)], show_all=True)
    return EXIT_FAILURES if comparison.regressions else EXIT_OK


# --- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 itself on a bad flag or value
    secrets = [getattr(args, "api_key", None), os.environ.get(credentials.API_KEY_ENV)]
    stdout, stderr = terminal.consoles()
    return terminal.guarded(lambda: args.handler(args, stdout, stderr), secrets)
