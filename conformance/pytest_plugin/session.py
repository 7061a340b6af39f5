"""One pytest session's conformance run: collect the cases, run the selected ones once, report.

The selected cases (after -k, -m and --deselect) run exactly as `conformance run` runs them, with
conformance.api.run_suite, in a background thread that starts when the test loop starts, so pytest's
progress follows the cases as they finish and the verdicts are the CLI's. `--collect-only` never
touches the server. Problems the user can fix (unreachable server, unknown model, bad case file,
unwritable report directory) are a pytest usage error: one line, exit status 4, no item runs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.api import RunConfig, list_cases, resolve_model, run_suite
from conformance.cases import Case
from conformance.errors import UsageError
from conformance.providers import Profile, find_profile
from conformance.pytest_plugin.items import VERDICTS, CaseFile, CaseItem, RunStopped, marker_descriptions
from conformance.reports.claims import documents_refusal
from conformance.results import CaseResult, RunResults

API_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class Settings:
    base_url: str
    model: str | None
    api_key: str | None
    provider: str
    profile: Profile | None
    cases_dir: Path | None
    report_dir: Path | None
    concurrency: int
    timeout: float

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        from conformance.cli import default_provider

        option = config.getoption
        provider_name: str | None = option("conformance_provider")
        profile = find_profile(provider_name) if provider_name else None
        key_env = profile.auth.env if profile and profile.auth.env else None
        api_key = (
            option("conformance_api_key") or (os.environ.get(key_env) if key_env else None) or os.environ.get(API_KEY_ENV)
        )
        base_url = str(option("conformance_base_url")).rstrip("/")
        concurrency, timeout = option("conformance_concurrency"), option("conformance_timeout")
        if concurrency < 1:
            raise UsageError(f"--conformance-concurrency must be at least 1, not {concurrency}")
        if not timeout > 0:
            raise UsageError(f"--conformance-timeout must be positive, not {timeout:g}")
        cases_dir, report_dir = option("conformance_cases_dir"), option("conformance_report")
        return cls(
            base_url=base_url,
            model=option("conformance_model"),
            api_key=api_key or None,
            provider=(profile.name if profile else provider_name) or default_provider(base_url),
            profile=profile,
            cases_dir=Path(cases_dir) if cases_dir else None,
            report_dir=Path(report_dir) if report_dir else None,
            concurrency=concurrency,
            timeout=timeout,
        )


class ConformanceSession:
    """The plugin object registered for a session that was given --conformance-base-url."""

    def __init__(self, config: pytest.Config, settings: Settings, cases: list[Case]) -> None:
        self.config = config
        self.settings = settings
        self.cases = cases
        self.secrets: list[str | None] = [settings.api_key]
        self.selected: list[str] = []
        self.run: BackgroundRun | None = None
        self.results: RunResults | None = None
        self.written: Path | None = None
        config.stash[VERDICTS] = self

    @classmethod
    def from_config(cls, config: pytest.Config) -> ConformanceSession:
        try:
            settings = Settings.from_config(config)
            cases = list_cases(settings.cases_dir)
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        for line in marker_descriptions(cases):
            config.addinivalue_line("markers", line)
        return cls(config, settings, cases)

    # --- collection ------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> pytest.CollectReport:
        """Add one collector per case file to the session's own, whatever paths pytest was given."""
        report: pytest.CollectReport = yield
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.extend(self._case_files(collector))
        return report

    def _case_files(self, session: pytest.Session) -> list[CaseFile]:
        by_file: dict[Path, list[Case]] = {}
        for case in self.cases:
            by_file.setdefault(case.source.resolve(), []).append(case)
        files = []
        for path, cases in by_file.items():
            try:
                path.relative_to(session.config.rootpath)
                nodeid = None  # pytest's own: the path relative to the rootdir
            except ValueError:
                nodeid = f"{path.parent.name}/{path.name}"  # cases outside the rootdir (an installed package)
            files.append(CaseFile.from_parent(session, path=path, nodeid=nodeid, cases=cases))
        return files

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = [item.case.id for item in session.items if isinstance(item, CaseItem)]

    # --- running ---------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """Check the server and start the run, then let pytest's own loop run the items."""
        if not self.selected or session.config.option.collectonly:
            return
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            return  # pytest stops for the collection errors
        s = self.settings
        try:
            model = resolve_model(s.base_url, s.api_key, s.model, timeout=min(s.timeout, 30.0))
            if s.report_dir is not None:
                _check_writable(s.report_dir)
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        everything = len(self.selected) == len(self.cases)
        config = RunConfig(
            base_url=s.base_url,
            model=model,
            api_key=s.api_key,
            provider=s.provider,
            concurrency=s.concurrency,
            timeout=s.timeout,
            cases_dir=s.cases_dir,
            case_ids=None if everything else list(self.selected),
        )
        self.run = BackgroundRun(config, self.selected)
        self.run.start()

    def result(self, case_id: str) -> CaseResult:
        if self.run is None:
            raise RunStopped("the conformance run has not started")
        return self.run.result(case_id)

    def documented_refusal(self, result: CaseResult) -> str | None:
        """Why a refusal is expected (xfail): the provider profile documents the row as unsupported."""
        profile = self.settings.profile
        if profile is None or not documents_refusal(profile, result):
            return None
        return f"refused, as the {profile.name} profile documents: {result.reason}"

    # --- after the run ---------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.run is None or exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        self.run.join()  # after -x or --maxfail, the cases still in flight finish: reports are whole
        if self.run.results is None:
            return
        results = self.run.results
        if self.settings.profile is not None:
            results = results.model_copy(update={"provider_profile": self.settings.profile})
        self.results = results
        if self.settings.report_dir is not None:
            from conformance.reports import write_run_reports

            write_run_reports(results, self.settings.report_dir, self.secrets)
            self.written = self.settings.report_dir

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.run is None:
            return
        terminalreporter.ensure_newline()
        terminalreporter.section("conformance", sep="-")
        if self.results is None:
            why = self.run.failure or "interrupted"
            terminalreporter.write_line(f"conformance: the run did not finish ({why}); no reports written")
            return
        counts = ", ".join(f"{n} {verdict}" for verdict, n in self.results.counts().items() if n)
        line = (
            f"conformance: {counts} of {len(self.results.cases)} cases against {self.results.run.base_url} "
            f"(model {self.results.run.model})"
        )
        if self.written is not None:
            line += f"; reports in {self.written}/"
        terminalreporter.write_line(line)


class BackgroundRun:
    """run_suite in a thread; each case's verdict is handed to the item waiting for it."""

    def __init__(self, config: RunConfig, case_ids: list[str]) -> None:
        self.config = config
        self.results: RunResults | None = None
        self.failure: str | None = None
        self._done = {case_id: threading.Event() for case_id in case_ids}
        self._verdicts: dict[str, CaseResult] = {}
        self._thread = threading.Thread(target=self._main, name="conformance-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    # ProgressListener, called from the run's thread
    def started(self, total: int) -> None:
        pass

    def case_finished(self, result: CaseResult) -> None:
        # The first verdict is the run's own; later ones are replays by other SDKs (api.run_suite's sdks).
        self._verdicts.setdefault(result.case_id, result)
        self._done[result.case_id].set()

    def _main(self) -> None:
        try:
            self.results = run_suite(self.config, self)
        except BaseException as exc:  # items must not wait forever: they fail with this instead
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            for event in self._done.values():
                event.set()

    def result(self, case_id: str) -> CaseResult:
        done = self._done[case_id]
        while not done.wait(0.5):  # short waits keep Ctrl-C responsive
            pass
        found = self._verdicts.get(case_id)
        if found is None:
            raise RunStopped(f"the conformance run stopped before this case: {self.failure or 'no result'}")
        return found


def _check_writable(directory: Path) -> None:
    """Fail before the run, not after it, when the reports could not be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write reports to {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write reports to {directory}: permission denied")
