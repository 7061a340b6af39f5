"""A run in a terminal: progress on stderr, the summary on stdout, errors as one line and an exit status.

Shared by every command-line front end of the engine (`conformance run`, `conformance replay`,
`python -m conformance.selfrun`), so they print the same lines and exit with the same statuses
without one front end calling another's handler.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from conformance import engine
from conformance.errors import UsageError
from conformance.fuzz import cli as fuzz_cli
from conformance.reports.changes import print_changes
from conformance.reports.claims import claims_summary
from conformance.reports.console import print_summary
from conformance.reports.scrub import scrub
from conformance.reports.sdks import console_lines as sdk_lines
from conformance.results import CaseResult, ResultsFileError, Verdict

PROGRESS_LINE_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130
DEBUG_ENV = "CONFORMANCE_DEBUG"


class RunProgress(engine.QuietListener):
    """The engine's progress as a Rich bar on stderr, then a fuzzing spinner (safe from worker threads)."""

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
        self._fuzzing: AbstractContextManager[Any] | None = None
        self._fuzz_update: Callable[[str], None] | None = None

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
        self.fuzz_finished()

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

    def fuzz_started(self) -> None:
        self._progress.stop()  # one live display at a time: the bar gives way to the spinner
        self._fuzzing, self._fuzz_update = fuzz_cli.progress(self._console)
        self._fuzzing.__enter__()

    def fuzz_progress(self, message: str) -> None:
        if self._fuzz_update is not None:
            self._fuzz_update(message)

    def fuzz_finished(self) -> None:
        fuzzing, self._fuzzing, self._fuzz_update = self._fuzzing, None, None
        if fuzzing is not None:
            fuzzing.__exit__(None, None, None)


def run_prepared(prepared: engine.PreparedRun, stdout: Console, stderr: Console) -> engine.RunOutcome:
    """Execute a prepared run with progress on stderr and print its outcome (its status is the exit status)."""
    with RunProgress(stderr) as progress:
        outcome = engine.execute(prepared, progress)
    print_outcome(stdout, outcome)
    return outcome


def print_outcome(stdout: Console, outcome: engine.RunOutcome) -> None:
    """What `conformance run` prints when a run is done, regressions first: they decide the exit status."""
    results, prepared, secrets = outcome.results, outcome.prepared, outcome.prepared.secrets
    comparison = results.baseline
    if comparison is not None:
        print_changes(stdout, comparison, secrets)
    print_summary(stdout, results, secrets)
    for line in sdk_lines(results):
        stdout.print(Text(scrub(line, secrets)))
    if results.fuzz is not None:
        fuzz_cli.print_fuzz_summary(stdout, results.fuzz)
    claims_line = claims_summary(results)
    if claims_line:
        stdout.print(Text(f"Documented claims of {prepared.provider}: {claims_line}"))
    if prepared.out_dir is not None:
        stdout.print(Text(f"Reports in {prepared.out_dir}/: " + ", ".join(p.name for p in outcome.written.values())))
    if comparison is not None:
        for line in outcome.fuzz_regressions:
            stdout.print(Text(f"regression: {scrub(line, secrets)}", style="red"))
        stdout.print(
            Text(
                f"{outcome.regressions} regression(s) against {prepared.options.baseline} (exit {outcome.status})",
                style="bold",
            )
        )
        return
    if outcome.status != engine.EXIT_OK:
        stdout.print(Text(_shortfall_line(outcome), style="bold"))


def _shortfall_line(outcome: engine.RunOutcome) -> str:
    results = outcome.results
    every_case = [*results.cases, *results.sdk_cases]
    not_passed = sum(case.verdict is not Verdict.PASS for case in every_case)
    off_spec = sum(case.verdict is Verdict.PASS and bool(case.violations) for case in every_case)
    findings = f", {off_spec} passed but off the spec" if off_spec else ""
    if results.fuzz and not results.fuzz.ok:
        findings += f", {results.fuzz.total_failures} fuzz finding(s)"
    return f"{not_passed} of {len(every_case)} cases did not pass{findings} (exit {outcome.status})"


def consoles() -> tuple[Console, Console]:
    """stdout and stderr consoles. Piped or in a CI log, Rich would assume 80 columns and fold ids
    mid-word; logs can be wider."""
    wide = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    return Console(highlight=False, width=wide), Console(stderr=True, highlight=False, width=wide)


def guarded(command: Callable[[], int], secrets: Sequence[str | None], prog: str = "conformance") -> int:
    """Run a command's body with the exit statuses users and CI rely on (see conformance.cli)."""
    try:
        return command()
    except (UsageError, ResultsFileError) as exc:
        _fail(prog, str(exc), secrets)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail(prog, "interrupted", secrets)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); silence the flush at exit that would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return engine.EXIT_OK
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        _fail(prog, f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", secrets)
        return EXIT_INTERNAL


def _fail(prog: str, message: str, secrets: Sequence[str | None]) -> None:
    line = " ".join(scrub(message, secrets).split())
    print(f"{prog}: error: {line}", file=sys.stderr)
