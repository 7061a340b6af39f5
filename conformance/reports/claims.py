"""Documented claims against measurement, for runs made with a provider profile (--provider NAME).

Two lists matter to people: "claimed but failing" (users hit these, the docs promise them) and
"working but undocumented" (users could rely on these, the docs do not say so). Rows whose docs say
"not supported" but which work are listed too, and claims on rows this run did not measure are counted
so nobody mistakes "not measured" for "agrees".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from conformance.providers import Claim, ClaimDetail, Profile
from conformance.reports import view
from conformance.results import CaseResult, Cell, CellState, RunResults, Verdict

_PROMISED = {Claim.SUPPORTED, Claim.PARTIAL}
_DENIED = {Claim.UNSUPPORTED, Claim.IGNORED}
# Neither for nor against a claim: every case skipped, or answers that do not repeat.
_NO_EVIDENCE = {CellState.UNTESTED, CellState.INCONCLUSIVE}


@dataclass
class ClaimRow:
    endpoint: str
    parameter: str
    claim: ClaimDetail | None
    state: CellState
    evidence: str


@dataclass
class ClaimsReport:
    profile: Profile
    claimed_but_failing: list[ClaimRow] = field(default_factory=list)
    working_but_undocumented: list[ClaimRow] = field(default_factory=list)
    denied_but_working: list[ClaimRow] = field(default_factory=list)
    agreeing: int = 0
    not_measured: list[tuple[str, str]] = field(default_factory=list)


def documents_refusal(profile: Profile | None, case: CaseResult) -> bool:
    """A refusal (verdict unsupported) of a row the docs say is unsupported: the truth, as promised."""
    if profile is None or case.verdict is not Verdict.UNSUPPORTED:
        return False
    claim = profile.claim(case.endpoint, case.parameter)
    return claim is not None and claim.claim is Claim.UNSUPPORTED


def claims_report(run: RunResults) -> ClaimsReport | None:
    profile = run.provider_profile
    if profile is None:
        return None
    report = ClaimsReport(profile)
    cells: dict[tuple[str, str], Cell] = {(c.endpoint, c.parameter): c for c in view.cells_of(run)}
    for (endpoint, parameter), cell in sorted(cells.items()):
        claim = profile.claim(endpoint, parameter)
        row = ClaimRow(endpoint, parameter, claim, cell.state, view.evidence_summary(cell))
        works = cell.state is CellState.SUPPORTED
        if claim is None or claim.claim is Claim.UNKNOWN:
            if works:
                report.working_but_undocumented.append(row)
        elif cell.state in _NO_EVIDENCE:
            continue  # neither for nor against the claim: not failing, not agreeing
        elif claim.claim in _PROMISED and not works:
            report.claimed_but_failing.append(row)
        elif claim.claim in _DENIED and works:
            report.denied_but_working.append(row)
        elif (claim.claim in _PROMISED) == works:
            report.agreeing += 1
    report.not_measured = [(e, p) for e, p, _ in profile.rows() if (e, p) not in cells]
    return report


def _claim_text(claim: ClaimDetail | None) -> str:
    if claim is None:
        return "not documented"
    return claim.claim.value + (f" ({claim.note})" if claim.note else "")


def _sections(report: ClaimsReport) -> list[tuple[str, list[ClaimRow]]]:
    return [
        ("Claimed but failing", report.claimed_but_failing),
        ("Working but undocumented", report.working_but_undocumented),
        ("Documented as unsupported, but working", report.denied_but_working),
    ]


def _summary_line(report: ClaimsReport) -> str:
    return (
        f"{len(report.claimed_but_failing)} claimed but failing, {len(report.working_but_undocumented)} "
        f"working but undocumented, {len(report.denied_but_working)} documented as unsupported but working, "
        f"{report.agreeing} agreeing; {len(report.not_measured)} documented rows not measured by this run"
    )


def claims_summary(run: RunResults) -> str:
    """One line for the terminal: the counts behind the report's claims section, or '' without a profile."""
    report = claims_report(run)
    return _summary_line(report) if report is not None else ""


def _sources_md(profile: Profile) -> list[str]:
    return [f"- [{s.title}]({s.url}) ({s.date})" for s in profile.sources]


def markdown_section(run: RunResults) -> list[str]:
    report = claims_report(run)
    if report is None:
        return []

    def md(text: str) -> str:
        return view.one_line(text, 240).replace("|", "\\|").replace("<", "&lt;")

    out = [f"## Documented claims vs measured ({md(report.profile.title)})", "", _summary_line(report), ""]
    for title, rows in _sections(report):
        out += [f"### {title}", ""]
        if not rows:
            out += ["None.", ""]
            continue
        out += ["| Endpoint | Parameter | Docs say | Measured | Evidence |", "|---|---|---|---|---|"]
        out += [
            f"| `{r.endpoint}` | `{r.parameter}` | {md(_claim_text(r.claim))} | "
            f"{view.state_label(r.state)} | {md(r.evidence)} |"
            for r in rows
        ]
        out.append("")
    return [*out, "Sources:", "", *_sources_md(report.profile), ""]


def html_section(run: RunResults, label: str = "") -> str:
    report = claims_report(run)
    if report is None:
        return ""
    e = escape
    parts = [
        f'<section class="claims"><h2>Documented claims vs measured: {e(label or report.profile.title)}</h2>',
        f"<p>{e(_summary_line(report))}</p>",
    ]
    for title, rows in _sections(report):
        parts.append(f"<h3>{e(title)}</h3>")
        if not rows:
            parts.append("<p>None.</p>")
            continue
        body = "".join(
            f"<tr><td><code>{e(r.endpoint)}</code></td><td><code>{e(r.parameter)}</code></td>"
            f"<td>{e(_claim_text(r.claim))}</td><td>{e(view.state_label(r.state))}</td>"
            f"<td>{e(view.one_line(r.evidence, 300))}</td></tr>"
            for r in rows
        )
        parts.append(
            "<table><thead><tr><th>Endpoint</th><th>Parameter</th><th>Docs say</th><th>Measured</th>"
            f"<th>Evidence</th></tr></thead><tbody>{body}</tbody></table>"
        )
    sources = "".join(
        f'<li><a href="{e(s.url)}">{e(s.title)}</a> ({e(s.date)})</li>' for s in report.profile.sources
    )
    parts.append(f"<p>Sources:</p><ul>{sources}</ul></section>")
    return "".join(parts)
