"""The suite's YAML cases as pytest nodes: a File collector per case file, an Item per case.

Items do not call the server themselves. In `conformance run`, cases share baselines and run
concurrently; running each item on its own would give other verdicts and take longer. So the
session runs the selected cases once, as the CLI does, and each item waits for its own case's
verdict and reports it: pass passes, skipped skips, a refusal the provider profile documents is an
xfail, and everything else fails with the case's reason, never a pass.

Markers make `-m` select by matrix row. Marker names must be identifiers, so every run of
characters other than letters, digits and `_` becomes one `_`: endpoint `chat.completions` is the
marker `chat_completions`, parameter `stream_options.include_usage` is `param_stream_options_include_usage`,
profile `vllm` is `profile_vllm`; every item also has the marker `conformance`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from conformance.cases import Case
from conformance.reports.scrub import scrub
from conformance.results import CaseResult, Verdict

ALL_MARKER = "conformance"
_EXCERPT = 400


class VerdictSource(Protocol):
    """What an item asks for its verdict: the session's one run of the selected cases."""

    secrets: list[str | None]

    def result(self, case_id: str) -> CaseResult: ...
    def documented_refusal(self, result: CaseResult) -> str | None: ...


VERDICTS = pytest.StashKey["VerdictSource"]()


def marker_name(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_")


def case_markers(case: Case) -> list[str]:
    return [
        ALL_MARKER,
        marker_name(case.endpoint),
        f"param_{marker_name(case.parameter)}",
        f"profile_{marker_name(case.profile)}",
    ]


def marker_descriptions(cases: Iterable[Case]) -> list[str]:
    """`name: description` lines for config.addinivalue_line, so --strict-markers accepts them."""
    described: dict[str, str] = {ALL_MARKER: "every openai-conformance case"}
    for case in cases:
        endpoint, parameter, profile = case_markers(case)[1:]
        described.setdefault(endpoint, f"conformance cases of the {case.endpoint} endpoint")
        described.setdefault(parameter, f"conformance cases of the parameter row {case.parameter}")
        described.setdefault(profile, f"conformance cases of the {case.profile} profile")
    return [f"{name}: {text}" for name, text in described.items()]


class CaseFile(pytest.File):
    """One YAML case file; its cases were loaded (and vetted) once when the session was configured."""

    def __init__(self, *, cases: list[Case], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases

    def collect(self) -> Iterator[CaseItem]:
        for case in self.cases:
            yield CaseItem.from_parent(self, name=case.id, case=case)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        for name in case_markers(case):
            self.add_marker(name)
        self.extra_keyword_matches.add(case.row)  # -k 'chat.completions/stop' selects by matrix row

    def runtest(self) -> None:
        source = self.config.stash[VERDICTS]
        result = source.result(self.case.id)
        # Recorded in pytest's own --junitxml: the verdict, and the case's own time (not its wait).
        self.user_properties += [("verdict", result.verdict.value), ("case_duration_s", result.duration_s)]
        if result.verdict is Verdict.PASS:
            return
        if result.verdict is Verdict.SKIPPED:
            pytest.skip(scrub(result.reason, source.secrets))
        documented = source.documented_refusal(result)
        if documented is not None:
            pytest.xfail(scrub(documented, source.secrets))
        raise CaseNotPassed(result, source.secrets)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseNotPassed):
            return excinfo.value.describe()
        if isinstance(excinfo.value, RunStopped):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.case.id} ({self.case.row})"


class RunStopped(Exception):
    """The session's run ended (a harness bug, an interrupt) before this case had a verdict."""


class CaseNotPassed(Exception):
    """A case whose verdict is fail, error or an undocumented refusal (unsupported)."""

    def __init__(self, result: CaseResult, secrets: list[str | None]) -> None:
        super().__init__(result.reason)
        self.result = result
        self.secrets = secrets

    def describe(self) -> str:
        """Short and enough to act on: the verdict, the failed checks, the calls and the last answer."""
        r = self.result
        kind = f" ({r.failure_kind.value})" if r.failure_kind else ""
        lines = [f"{r.verdict.value}{kind}: {r.reason}", f"case {r.case_id}, row {r.endpoint}/{r.parameter}: {r.title}"]
        failed = [c for c in r.checks if not c.passed]
        if failed:
            lines.append("failed checks:")
            lines += [f"  - {c.expectation}: {c.detail}" for c in failed]
        if r.evidence:
            lines.append("calls:")
            for ex in r.evidence:
                answer = f"HTTP {ex.status}" if ex.status is not None else (ex.error or "no answer")
                lines.append(f"  {ex.label or 'call'}: {ex.method} {ex.url} -> {answer} ({ex.duration_s:.2f}s)")
            last = r.evidence[-1].response_excerpt.strip()
            if last:
                cut = last[:_EXCERPT] + ("..." if len(last) > _EXCERPT else "")
                lines.append(f"last answer: {cut}")
        return scrub("\n".join(lines), self.secrets)
