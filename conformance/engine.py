"""One run, whichever front end asks for it: `conformance run`, `replay`, selfrun, the pytest plugin, a script.

    outcome = conformance.engine.run(RunOptions(base_url="http://127.0.0.1:8080/v1", only=["chat.*"]))
    outcome.status, outcome.results, outcome.written

A run has two halves, so that a front end can say what went wrong before anything is measured:

- `prepare` turns what was asked (RunOptions) into what will run (PreparedRun): the provider profile
  and the API key (one precedence rule), the base URL, the baseline file, the fuzz plan, the SDKs,
  the case selection, the model (resolved once, here) and the report directory. Every problem the
  user can fix raises UsageError (or ResultsFileError for the baseline) before any case runs.
- `execute` measures (cases, SDK replays, fuzzing; progress to a RunListener), attaches the profile
  and the baseline comparison, writes the four reports and computes the exit status.

The engine prints nothing: the terminal front end is conformance.terminal, the pytest plugin reports
through pytest. Usage messages name the CLI's flags (`--base-url`), the vocabulary of the docs.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from conformance import compare, credentials, reports
from conformance import sdks as sdk_choice
from conformance.api import RunConfig, list_cases, resolve_model, run_cases
from conformance.errors import UsageError
from conformance.fuzz import results as fuzz_results
from conformance.fuzz.plan import FuzzPlan
from conformance.providers import Profile, find_profile
from conformance.results import CaseResult, RunResults, Verdict, load

__all__ = [
    "EXIT_FAILURES",
    "EXIT_OK",
    "FuzzPlan",
    "PreparedRun",
    "QuietListener",
    "RunListener",
    "RunOptions",
    "RunOutcome",
    "execute",
    "exit_status",
    "prepare",
    "run",
]

EXIT_OK, EXIT_FAILURES = 0, 1  # a run's own statuses; usage errors (2) are raised, not returned
MODEL_CHECK_TIMEOUT = 30.0  # seconds the model check may take, whatever the per-case timeout
PREFERRED_MODEL_TIMEOUT = 10.0  # per candidate of RunOptions.preferred_models


@dataclass
class RunOptions:
    """What a run is asked to do; None and empty mean "the default", as for `conformance run`."""

    base_url: str | None = None  # None: the provider profile's base_url
    model: str | None = None  # None: the first of preferred_models the server has, else the first it lists
    api_key: str | None = None  # None: the profile's key variable, then $OPENAI_API_KEY
    provider: str | None = None  # a profile (specs/providers/NAME.yaml or a .yaml path) or a plain name
    baseline: Path | None = None  # an earlier results.json: gate on regressions against it
    only: list[str] = field(default_factory=list)  # globs over case ids and endpoint/parameter rows
    exclude: list[str] = field(default_factory=list)
    case_ids: list[str] | None = None  # exactly these cases, after only/exclude (the pytest plugin's -k/-m)
    cases_dir: Path | None = None  # a case directory or file (a cassette); None: specs/cases
    concurrency: int = 4
    timeout: float = 60.0  # seconds per case
    sdks: str | list[str] = "python"  # "python,node" or a list; the first makes the matrix (conformance.sdks)
    out: Path | None = None  # None: reports/<provider>/
    write_reports: bool = True  # False: measure only (the pytest plugin without --conformance-report)
    fuzz: FuzzPlan = field(default_factory=FuzzPlan)
    preferred_models: list[str] = field(default_factory=list)  # replay: the models it was recorded with


# The RunOptions that api.RunConfig takes as they are (the others are resolved first).
_SUITE_OPTIONS = ("only", "exclude", "concurrency", "timeout", "cases_dir", "case_ids")


@dataclass
class PreparedRun:
    """A run every part of which has been checked: nothing left to resolve, nothing measured yet."""

    options: RunOptions
    profile: Profile | None
    api_key: str | None
    base_url: str
    model: str
    provider: str
    out_dir: Path | None  # None: no reports are written
    baseline: RunResults | None
    sdks: list[str]

    @property
    def secrets(self) -> list[str | None]:
        """What every line and file of this run is scrubbed of."""
        return [self.api_key]

    def suite(self) -> RunConfig:
        """What running the cases takes: the resolved values, and the options it reads as given."""
        given = {name: getattr(self.options, name) for name in _SUITE_OPTIONS}
        resolved = {"base_url": self.base_url, "model": self.model, "api_key": self.api_key, "provider": self.provider}
        return RunConfig(**resolved, **given, sdks=list(self.sdks))


@dataclass
class RunOutcome:
    """A finished run: its results (profile and baseline comparison attached), what was written, the status."""

    prepared: PreparedRun
    results: RunResults
    written: dict[str, Path]  # report format -> file; empty when no reports were written
    fuzz_regressions: list[str]  # endpoints fuzzed clean in the baseline with findings now
    status: int  # EXIT_OK or EXIT_FAILURES

    @property
    def regressions(self) -> int:
        """Cells and fuzzed endpoints that got worse than in the baseline (0 without one)."""
        comparison = self.results.baseline
        return (len(comparison.regressions) if comparison else 0) + len(self.fuzz_regressions)


class RunListener(Protocol):
    """Progress of a run, called from its worker threads: cases first, then fuzzing (if any)."""

    def started(self, total: int) -> None: ...
    def case_finished(self, result: CaseResult) -> None: ...
    def fuzz_started(self) -> None: ...
    def fuzz_progress(self, message: str) -> None: ...
    def fuzz_finished(self) -> None: ...


class QuietListener:
    """A RunListener that ignores everything: subclass it and override what you watch."""

    def started(self, total: int) -> None:
        pass

    def case_finished(self, result: CaseResult) -> None:
        pass

    def fuzz_started(self) -> None:
        pass

    def fuzz_progress(self, message: str) -> None:
        pass

    def fuzz_finished(self) -> None:
        pass


# --- prepare ---------------------------------------------------------------------------------------


def prepare(options: RunOptions) -> PreparedRun:
    """Check and resolve everything a run needs, in the order a user fixes them; measure nothing."""
    profile = find_profile(options.provider) if options.provider else None
    api_key = credentials.api_key(options.api_key, profile.auth.env if profile else None)
    if options.base_url is None and (profile is None or not profile.base_url):
        hint = f" (profile {profile.name!r} has no default base URL)" if profile else ""
        raise UsageError(f"--base-url is required{hint}")
    base_url = check_base_url(options.base_url or (profile.base_url if profile else "") or "")
    baseline = load(options.baseline) if options.baseline else None
    options.fuzz.check()
    sdks = sdk_choice.parse(options.sdks) if isinstance(options.sdks, str) else sdk_choice.check(options.sdks)
    if options.concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {options.concurrency}")
    if not options.timeout > 0:
        raise UsageError(f"timeout must be positive, not {options.timeout:g}")
    if not list_cases(options.cases_dir, only=options.only, exclude=options.exclude):
        raise UsageError(no_cases_message(options.only, options.exclude))
    # Reachable, authorised, and a model to test: all usage errors, found before anything is written.
    model = _model(base_url, api_key, options)
    provider = (profile.name if profile else options.provider) or default_provider(base_url)
    out_dir = (options.out or Path("reports") / path_slug(provider)) if options.write_reports else None
    if out_dir is not None:
        check_writable(out_dir)
    return PreparedRun(
        options=options,
        profile=profile,
        api_key=api_key,
        base_url=base_url,
        model=model,
        provider=provider,
        out_dir=out_dir,
        baseline=baseline,
        sdks=sdks,
    )


def _model(base_url: str, api_key: str | None, options: RunOptions) -> str:
    """The model to test, asked of the server once per run (per candidate for preferred_models)."""
    timeout = min(options.timeout, MODEL_CHECK_TIMEOUT)
    if options.model is None:
        for candidate in options.preferred_models:
            try:
                return resolve_model(base_url, api_key, candidate, timeout=min(timeout, PREFERRED_MODEL_TIMEOUT))
            except UsageError:
                continue
    return resolve_model(base_url, api_key, options.model, timeout=timeout)


def check_base_url(base_url: str) -> str:
    """An http(s) URL with a host (and a port in range), without its trailing slash."""
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


def check_writable(directory: Path) -> None:
    """Fail before the run, not after minutes of it, when the reports could not be written.

    A file is actually created: permission bits (os.access) do not see read-only mounts or quotas.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write reports to {directory}: {exc.strerror or exc}") from None


def no_cases_message(only: list[str], exclude: list[str]) -> str:
    selection = " ".join([*(f"--only {p}" for p in only), *(f"--exclude {p}" for p in exclude)])
    return f"no case matches {selection}" if selection else "the suite has no cases"


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


# --- execute ---------------------------------------------------------------------------------------


def run(options: RunOptions, listener: RunListener | None = None) -> RunOutcome:
    """The whole run: prepare (UsageError before anything is measured), then execute."""
    return execute(prepare(options), listener)


def execute(prepared: PreparedRun, listener: RunListener | None = None) -> RunOutcome:
    return conclude(prepared, measure(prepared, listener))


def measure(prepared: PreparedRun, listener: RunListener | None = None) -> RunResults:
    """The cases, each SDK's replays and the fuzzing, with the profile and baseline comparison attached."""
    listener = listener or QuietListener()
    results = run_cases(prepared.suite(), prepared.model, listener)
    fuzz = prepared.options.fuzz
    if fuzz.enabled:
        listener.fuzz_started()
        try:
            results.fuzz = fuzz.run(
                prepared.base_url,
                model=prepared.model,
                api_key=prepared.api_key,
                request_timeout=prepared.options.timeout,
                progress=listener.fuzz_progress,
            )
        finally:
            listener.fuzz_finished()
    baseline = prepared.baseline
    comparison = compare.compare(baseline, results, str(prepared.options.baseline)) if baseline else None
    return results.model_copy(update={"provider_profile": prepared.profile, "baseline": comparison})


def conclude(prepared: PreparedRun, results: RunResults) -> RunOutcome:
    """Write the reports (if the run has a report directory) and compute the exit status."""
    written: dict[str, Path] = {}
    if prepared.out_dir is not None:
        try:
            written = reports.write_run_reports(results, prepared.out_dir, prepared.secrets)
        except OSError as exc:
            raise UsageError(f"cannot write reports to {prepared.out_dir}: {exc.strerror or exc}") from None
    old_fuzz = prepared.baseline.fuzz if prepared.baseline else None
    outcome = RunOutcome(prepared, results, written, fuzz_results.regressions(old_fuzz, results.fuzz), EXIT_OK)
    if prepared.baseline is not None:
        outcome.status = EXIT_FAILURES if outcome.regressions else EXIT_OK
    else:
        outcome.status = exit_status(results)
    return outcome


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
