"""One pytest session's conformance run: collect the cases, run the selected ones once, report.

The selected cases (after -k, -m and --deselect) run exactly as `conformance run` runs them, through
conformance.engine: prepared (every check, the model resolved) when the test loop starts, measured in
a background thread so pytest's progress follows the cases as they finish, and the verdicts are the
CLI's. `--collect-only` never touches the server. Problems the user can fix (unreachable server,
unknown model, bad case file, unwritable report directory) are a pytest usage error: one line, exit
status 4, no item runs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conformance import engine
from conformance.api import list_cases
from conformance.cases import Case
from conformance.errors import UsageError
from conformance.pytest_plugin.items import VERDICTS, CaseFile, CaseItem, RunStopped, marker_descriptions
from conformance.reports.claims import documents_refusal
from conformance.results import CaseResult, RunResults


def run_options(config: pytest.Config) -> engine.RunOptions:
    """The plugin's options as the engine's; the plugin checks only the flags whose names are its own."""
    option = config.getoption
    concurrency, timeout = option("conformance_concurrency"), option("conformance_timeout")
    if concurrency < 1:
        raise UsageError(f"--conformance-concurrency must be at least 1, not {concurrency}")
    if not timeout > 0:
        raise UsageError(f"--conformance-timeout must be positive, not {timeout:g}")
    cases_dir, report_dir = option("conformance_cases_dir"), option("conformance_report")
    return engine.RunOptions(
        base_url=str(option("conformance_base_url")),
        model=option("conformance_model"),
        api_key=option("conformance_api_key"),
        provider=option("conformance_provider"),
        cases_dir=Path(cases_dir) if cases_dir else None,
        concurrency=concurrency,
        timeout=timeout,
        out=Path(report_dir) if report_dir else None,
        write_reports=bool(report_dir),
    )


class ConformanceSession:
    """The plugin object registered for a session that was given --conformance-base-url."""

    def __init__(self, config: pytest.Config, options: engine.RunOptions, cases: list[Case]) -> None:
        self.config = config
        self.options = options
        self.cases = cases
        self.secrets: list[str | None] = []  # the key, once the run is prepared
        self.selected: list[str] = []
        self.prepared: engine.PreparedRun | None = None
        self.run: BackgroundRun | None = None
        self.results: RunResults | None = None
        self.written: Path | None = None
        config.stash[VERDICTS] = self

    @classmethod
    def from_config(cls, config: pytest.Config) -> ConformanceSession:
        try:
            options = run_options(config)
            cases = list_cases(options.cases_dir)
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        for line in marker_descriptions(cases):
            config.addinivalue_line("markers", line)
        return cls(config, options, cases)

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
        everything = len(self.selected) == len(self.cases)
        self.options.case_ids = None if everything else list(self.selected)
        try:
            self.prepared = engine.prepare(self.options)
        except UsageError as exc:
            raise pytest.UsageError(f"conformance: {exc}") from None
        self.secrets[:] = self.prepared.secrets
        self.run = BackgroundRun(self.prepared, self.selected)
        self.run.start()

    def result(self, case_id: str) -> CaseResult:
        if self.run is None:
            raise RunStopped("the conformance run has not started")
        return self.run.result(case_id)

    def documented_refusal(self, result: CaseResult) -> str | None:
        """Why a refusal is expected (xfail): the provider profile documents the row as unsupported."""
        profile = self.prepared.profile if self.prepared else None
        if profile is None or not documents_refusal(profile, result):
            return None
        return f"refused, as the {profile.name} profile documents: {result.reason}"

    # --- after the run ---------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.run is None or exitstatus == pytest.ExitCode.INTERRUPTED:
            return
        self.run.join()  # after -x or --maxfail, the cases still in flight finish: reports are whole
        if self.run.results is None or self.prepared is None:
            return
        outcome = engine.conclude(self.prepared, self.run.results)  # the reports, if --conformance-report
        self.results = outcome.results
        self.written = self.prepared.out_dir

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


class BackgroundRun(engine.QuietListener):
    """The engine's measurement in a thread; each case's verdict is handed to the item waiting for it."""

    def __init__(self, prepared: engine.PreparedRun, case_ids: list[str]) -> None:
        self.prepared = prepared
        self.results: RunResults | None = None
        self.failure: str | None = None
        self._done = {case_id: threading.Event() for case_id in case_ids}
        self._verdicts: dict[str, CaseResult] = {}
        self._thread = threading.Thread(target=self._main, name="conformance-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    # RunListener, called from the run's threads
    def case_finished(self, result: CaseResult) -> None:
        # The first verdict is the run's own; later ones are replays by other SDKs (RunOptions.sdks).
        self._verdicts.setdefault(result.case_id, result)
        self._done[result.case_id].set()

    def _main(self) -> None:
        try:
            self.results = engine.measure(self.prepared, self)
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
