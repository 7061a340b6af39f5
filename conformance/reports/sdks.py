"""The "SDKs" section: the SDK cases through each official SDK, and where the SDKs disagree.

A provider's answer can be fine for the Python SDK and break the JavaScript one (or the other way
round); the matrix comes from the first SDK of `run --sdk`, so this section is where the others'
verdicts show. Every format renders it from RunResults.sdk_cases alone; runs without it render
nothing here. An SDK that throws on an answer is on the wire axis now (the behaviour may still pass),
and it is exactly what this section is for, so a replay counts as passing only when its verdict
passed and its SDK did not break; spec violations are the server's, the same for every SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from tabulate import tabulate

from conformance.reports import view
from conformance.results import CaseResult, RunResults, Verdict, WireState


@dataclass
class Row:
    """One case id: its result through each SDK, the first SDK's first."""

    case_id: str
    results: list[CaseResult]

    @property
    def differs(self) -> bool:
        return len({(r.verdict, _breaks(r)) for r in self.results}) > 1

    @property
    def all_pass(self) -> bool:
        return all(_passed(r) for r in self.results)


def _breaks(case: CaseResult) -> bool:
    return case.wire is WireState.BREAKS_SDK


def _passed(case: CaseResult) -> bool:
    return case.verdict is Verdict.PASS and not _breaks(case)


def _outcome(case: CaseResult) -> str:
    """The verdict, and the SDK breaking when it did: "✅ pass · 🧨 breaks-sdk"."""
    verdict = f"{view.VERDICT_SYMBOL[case.verdict]} {case.verdict.value}"
    return f"{verdict} · {view.wire_label(case.wire)}" if _breaks(case) else verdict


def _said(case: CaseResult) -> str:
    return case.reason or "; ".join(case.violations)


def sdk_order(run: RunResults) -> list[str]:
    """The SDKs of the run, in the order of `--sdk`."""
    names = list(run.run.options.get("sdks") or [])
    for case in [*run.cases[:1], *run.sdk_cases]:
        if case.sdk not in names:
            names.append(case.sdk)
    return names


def rows(run: RunResults) -> list[Row]:
    first = {c.case_id: c for c in run.cases}
    replays: dict[str, list[CaseResult]] = {}
    for case in run.sdk_cases:
        replays.setdefault(case.case_id, []).append(case)
    return [
        Row(case_id, [first[case_id], *others] if case_id in first else others)
        for case_id, others in replays.items()
    ]


def tally(cases: list[CaseResult]) -> str:
    counts = {v: sum(c.verdict is v for c in cases) for v in Verdict}
    return ", ".join(f"{n} {v.value}" for v, n in counts.items() if n) or "no cases"


def summary_lines(run: RunResults) -> list[str]:
    """One line per SDK after the first: how its replay went, and how often it disagrees with the first."""
    if not run.sdk_cases:
        return []
    names = sdk_order(run)
    table = rows(run)
    lines = []
    for sdk in names[1:]:
        mine = [c for c in run.sdk_cases if c.sdk == sdk]
        differ = sum(1 for r in table if any(c.sdk == sdk for c in r.results) and r.differs)
        lines.append(
            f"{sdk} SDK: {len(mine)} cases with an SDK call replayed: {tally(mine)}; "
            f"{differ} result(s) differ from the {names[0]} SDK"
        )
    return lines


def attention(run: RunResults) -> list[Row]:
    """Rows worth a reader's time: any SDK did not pass (agreeing failures included: both SDKs see them)."""
    return [r for r in rows(run) if not r.all_pass]


def _verdicts(row: Row) -> list[str]:
    return [_outcome(r) for r in row.results]


def _what(row: Row) -> str:
    """The reasons of the SDKs that did not pass, each named; one reason when they all say the same."""
    failing = [r for r in row.results if not _passed(r)]
    if len({_said(r) for r in failing}) == 1 and len(failing) == len(row.results):
        return _said(failing[0])
    return " · ".join(f"{r.sdk}: {_said(r)}" for r in failing)


def markdown_section(run: RunResults, cell: Callable[[str], str]) -> list[str]:
    if not run.sdk_cases:
        return []
    names = sdk_order(run)
    out = [
        "## SDKs",
        "",
        f"The cases with an SDK call, replayed through each official SDK ({', '.join(names)}); the matrix "
        f"above is from the {names[0]} SDK.",
        "",
        *(f"- {cell(line)}" for line in summary_lines(run)),
        "",
    ]
    listed = attention(run)
    if not listed:
        return [*out, "Every replayed case passed through every SDK.", ""]
    body = [[f"`{cell(r.case_id)}`", *_verdicts(r), "yes" if r.differs else "", cell(view.one_line(_what(r)))] for r in listed]
    headers = ["Case", *(f"{n} SDK" for n in names), "Differs", "What the SDK said"]
    return [*out, tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]


def html_section(run: RunResults, case_html: Callable[[CaseResult], str]) -> str:
    """The table, then every replayed case through the other SDKs, expandable with its evidence."""
    if not run.sdk_cases:
        return ""
    names = sdk_order(run)
    e = escape
    lines = "".join(f"<li>{e(line)}</li>" for line in summary_lines(run))
    listed = attention(run)
    parts = [
        '<section id="sdks"><h2>SDKs</h2>',
        f"<p>The cases with an SDK call, replayed through each official SDK ({e(', '.join(names))}); "
        f"the matrix above is from the {e(names[0])} SDK.</p><ul>{lines}</ul>",
    ]
    if listed:
        head = "".join(f"<th>{e(n)} SDK</th>" for n in names)
        body = "".join(
            f"<tr><td><code>{e(r.case_id)}</code></td>{''.join(f'<td>{e(v)}</td>' for v in _verdicts(r))}"
            f"<td>{'yes' if r.differs else ''}</td><td>{e(_what(r))}</td></tr>"
            for r in listed
        )
        parts.append(
            f"<table><thead><tr><th>Case</th>{head}<th>Differs</th><th>What the SDK said</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    else:
        parts.append("<p>Every replayed case passed through every SDK.</p>")
    for sdk in names[1:]:
        mine = [c for c in run.sdk_cases if c.sdk == sdk]
        parts.append(f"<h3>Cases through the {e(sdk)} SDK</h3>")
        parts += [case_html(case) for case in sorted(mine, key=lambda c: (c.endpoint, c.case_id))]
    parts.append("</section>")
    return "".join(parts)


def by_sdk_and_endpoint(run: RunResults) -> list[tuple[str, str, list[CaseResult]]]:
    """(sdk, endpoint, cases) groups of the replayed cases, for one JUnit testsuite each."""
    out = []
    for sdk in sdk_order(run)[1:]:
        mine = run.model_copy(update={"cases": [c for c in run.sdk_cases if c.sdk == sdk]})
        out += [(sdk, endpoint, cases) for endpoint, cases in view.cases_by_endpoint(mine).items()]
    return out


def console_lines(run: RunResults) -> list[str]:
    """The terminal's share: the summary, then each case whose verdict differs between SDKs."""
    out = summary_lines(run)
    for row in rows(run):
        if row.differs:
            verdicts = ", ".join(f"{r.sdk} {_outcome(r)}" for r in row.results)
            out.append(f"  {row.case_id}: {verdicts}: {view.one_line(_what(row), 240)}")
    return out
