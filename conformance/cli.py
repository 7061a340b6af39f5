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
import re
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from conformance import compare, reports
from conformance.argtypes import positive_float, positive_int
from conformance.errors import UsageError
from conformance.fuzz import cli as fuzz_cli
from conformance.fuzz import results as fuzz_results
from conformance.record import cli as record_cli
from conformance.reports.changes import print_changes
from conformance.reports.claims import claims_summary
from conformance.reports.console import print_summary
from conformance.reports.scrub import scrub
from conformance.reports.sdks import console_lines as sdk_lines
from conformance.results import CaseResult, ResultsFileError, RunResults, Verdict, load

if TYPE_CHECKING:
    from conformance.results import CaseResult

PROGRESS_LINE_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
API_KEY_ENV = "OPENAI_API_KEY"
DEBUG_ENV = "CONFORMANCE_DEBUG"


def tool_version() -> str:
    try:
        return metadata.version("openai-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"


def exit_status(results: RunResults) -> int:
    """0 only when every case ran and passed, strict to the spec (and fuzzing, if run, found nothing).

    A spec violation the SDK tolerates still fails the run: the behaviour axis alone would let a server
    that breaks the schema pass a CI gate it failed before the two axes were split.
    """
    fuzz_clean = results.fuzz is None or results.fuzz.ok
    every_case = [*results.cases, *results.sdk_cases]  # every SDK's replay counts (run --sdk python,node)
    if results.cases and fuzz_clean and all(_clean(case) for case in every_case):
        return EXIT_OK
    return EXIT_FAILURES


def _clean(case: CaseResult) -> bool:
    return case.verdict is Verdict.PASS and not case.violations


def default_provider(base_url: str) -> str:
    """Name a run after the server it measured when the user did not: host, and port if given."""
    parts = urlsplit(base_url)
    host = parts.hostname or "unnamed"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def path_slug(name: str) -> str:
    """A provider name made safe as one directory name (no separators, no '..')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "unnamed"


def _add_selection(parser: argparse.ArgumentParser) -> None:
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
    _add_selection(run)
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
    run.set_defaults(handler=cmd_run)

    lister = commands.add_parser("list", help="list the suite's cases", description="List the suite's cases.")
    _add_selection(lister)
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


class _ProgressBar:
    """Feeds the runner's progress events to a Rich bar on stderr (safe to call from worker threads)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[tally]}"),
            console=console,
        )
        self._task = self._progress.add_task("cases", total=None, tally="")
        self._lock = threading.Lock()
        self._tally = {v: 0 for v in Verdict}
        # Not a terminal (a CI log, a pipe): no bar to redraw, so a plain line now and then instead.
        self._console = console
        self._lines = not console.is_terminal
        self._total: int | None = None
        self._done = 0
        self._last_line = time.monotonic()

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, total: int) -> None:
        self._total = total
        self._progress.update(self._task, total=total)

    def case_finished(self, result: CaseResult) -> None:
        with self._lock:
            self._tally[result.verdict] += 1
            self._done += 1
            tally = " ".join(f"{n} {v.value}" for v, n in self._tally.items() if n)
            now = time.monotonic()
            say = self._lines and (now - self._last_line >= PROGRESS_LINE_EVERY or self._done == self._total)
            if say:
                self._last_line = now
        if say:
            self._console.print(Text(f"cases: {self._done}/{self._total} ({tally})"))
        self._progress.update(self._task, advance=1, tally=tally)


def _check_base_url(base_url: str) -> str:
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise UsageError(f"--base-url {base_url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--base-url must be an http(s) URL such as http://127.0.0.1:8080/v1, got {base_url!r}"
        )
    return base_url.rstrip("/")


def _check_writable(directory: Path) -> None:
    """Fail before the run, not after minutes of it, when the reports could not be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write reports to {directory}: {exc.strerror or exc}") from None


def cmd_run(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    from conformance import sdks as sdk_choice
    from conformance.api import RunConfig, list_cases, resolve_model, run_suite
    from conformance.providers import find_profile

    profile = find_profile(args.provider) if args.provider else None
    key_env = profile.auth.env if profile and profile.auth.env else None
    api_key = args.api_key or (os.environ.get(key_env) if key_env else None) or os.environ.get(API_KEY_ENV) or None
    if args.base_url is None and (profile is None or not profile.base_url):
        hint = f" (profile {profile.name!r} has no default base URL)" if profile else ""
        raise UsageError(f"--base-url is required{hint}")
    base_url = _check_base_url(args.base_url or (profile.base_url if profile else ""))
    baseline = load(args.baseline) if args.baseline else None
    fuzz_cli.check_run_fuzz_arguments(args)
    sdks = sdk_choice.parse(args.sdk)
    if not list_cases(args.cases_dir, only=args.only, exclude=args.exclude):
        raise UsageError(_no_cases_message(args))
    # Reachable, authorised, and a model to test: all usage errors, found before anything is written.
    model = resolve_model(base_url, api_key, args.model, timeout=min(args.timeout, 30.0))
    provider = (profile.name if profile else args.provider) or default_provider(base_url)
    out_dir: Path = args.out or Path("reports") / path_slug(provider)
    _check_writable(out_dir)

    config = RunConfig(
        base_url=base_url,
        model=model,
        api_key=api_key,
        provider=provider,
        only=list(args.only),
        exclude=list(args.exclude),
        concurrency=args.concurrency,
        timeout=args.timeout,
        cases_dir=args.cases_dir,
        sdks=sdks,
    )
    with _ProgressBar(stderr) as bar:
        results = run_suite(config, bar)
    results.fuzz = fuzz_cli.fuzz_for_run(args, base_url=base_url, model=model, api_key=api_key, console=stderr)
    if profile is not None:
        results = results.model_copy(update={"provider_profile": profile})
    comparison = compare.compare(baseline, results, str(args.baseline)) if baseline else None
    if comparison is not None:
        results = results.model_copy(update={"baseline": comparison})
    try:
        written = reports.write_run_reports(results, out_dir, [api_key])
    except OSError as exc:
        raise UsageError(f"cannot write reports to {out_dir}: {exc.strerror or exc}") from None

    if comparison is not None:
        print_changes(stdout, comparison, [api_key])  # regressions first: they decide the exit status
    print_summary(stdout, results, [api_key])
    for line in sdk_lines(results):
        stdout.print(Text(scrub(line, [api_key])))
    if results.fuzz is not None:
        fuzz_cli.print_fuzz_summary(stdout, results.fuzz)
    claims_line = claims_summary(results)
    if claims_line:
        stdout.print(Text(f"Documented claims of {profile.name if profile else provider}: {claims_line}"))
    stdout.print(Text(f"Reports in {out_dir}/: " + ", ".join(p.name for p in written.values())))
    if comparison is not None:
        fuzz_regressions = fuzz_results.regressions(baseline.fuzz if baseline else None, results.fuzz)
        for line in fuzz_regressions:
            stdout.print(Text(f"regression: {scrub(line, [api_key])}", style="red"))
        count = len(comparison.regressions) + len(fuzz_regressions)
        status = EXIT_FAILURES if count else EXIT_OK
        stdout.print(Text(f"{count} regression(s) against {args.baseline} (exit {status})", style="bold"))
        return status
    status = exit_status(results)
    if status != EXIT_OK:
        every_case = [*results.cases, *results.sdk_cases]
        not_passed = sum(case.verdict is not Verdict.PASS for case in every_case)
        off_spec = sum(case.verdict is Verdict.PASS and bool(case.violations) for case in every_case)
        findings = f", {off_spec} passed but off the spec" if off_spec else ""
        if results.fuzz and not results.fuzz.ok:
            findings += f", {results.fuzz.total_failures} fuzz finding(s)"
        stdout.print(
            Text(
                f"{not_passed} of {len(every_case)} cases did not pass{findings} (exit {status})",
                style="bold",
            )
        )
    return status


def _no_cases_message(args: argparse.Namespace) -> str:
    selection = " ".join([*(f"--only {p}" for p in args.only), *(f"--exclude {p}" for p in args.exclude)])
    return f"no case matches {selection}" if selection else "the suite has no cases"


# --- list and report ---------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    from conformance.api import list_cases

    cases = list_cases(args.cases_dir, only=args.only, exclude=args.exclude)
    if not cases:
        raise UsageError(_no_cases_message(args))
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
    text = reports.render(args.format, runs, [os.environ.get(API_KEY_ENV)])
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
    print_changes(stdout, comparison, [os.environ.get(API_KEY_ENV)], show_all=True)
    return EXIT_FAILURES if comparison.regressions else EXIT_OK


# --- entry point -------------------------------------------------------------------------------


def _fail(message: str, secrets: Sequence[str | None]) -> None:
    line = " ".join(scrub(message, secrets).split())
    print(f"conformance: error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 itself on a bad flag or value
    secrets = [getattr(args, "api_key", None), os.environ.get(API_KEY_ENV)]
    # Piped or in a CI log, Rich would assume 80 columns and fold ids mid-word; logs can be wider.
    wide = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    stdout = Console(highlight=False, width=wide)
    stderr = Console(stderr=True, highlight=False, width=wide)
    try:
        return args.handler(args, stdout, stderr)
    except (UsageError, ResultsFileError) as exc:
        _fail(str(exc), secrets)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail("interrupted", secrets)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at exit that would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", secrets)
        return EXIT_INTERNAL
