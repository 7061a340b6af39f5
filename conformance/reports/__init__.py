"""Render results in each report format, and write a run's full set of reports.

Every format renders from RunResults alone (one run, or several side by side), so `conformance run`
and `conformance report` produce identical files from the same data. Secrets are scrubbed from the
rendered text here, at the one door every report goes out through, and credential headers are
masked whether or not the key is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from conformance.reports import html, json_results, junit, markdown
from conformance.reports.scrub import mask_credential_headers, scrub
from conformance.results import RunResults

Renderer = Callable[[Sequence[RunResults]], str]

FORMATS: dict[str, Renderer] = {
    "html": html.render,
    "md": markdown.render,
    "json": json_results.render,
    "junit": junit.render,
}

# What `conformance run` writes into --out, one file per format.
RUN_FILES: dict[str, str] = {
    "json": "results.json",
    "md": "matrix.md",
    "html": "report.html",
    "junit": "junit.xml",
}


def render(fmt: str, runs: Sequence[RunResults], secrets: Iterable[str | None] = ()) -> str:
    if not runs:
        raise ValueError("nothing to render: no results given")
    masked = [mask_credential_headers(run) for run in runs]
    return scrub(FORMATS[fmt](masked), list(secrets))


def write_run_reports(
    results: RunResults, out_dir: Path, secrets: Iterable[str | None] = ()
) -> dict[str, Path]:
    """Write results.json, matrix.md, report.html and junit.xml; return each format's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    secrets = list(secrets)
    written: dict[str, Path] = {}
    for fmt, name in RUN_FILES.items():
        path = out_dir / name
        path.write_text(render(fmt, [results], secrets), encoding="utf-8")
        written[fmt] = path
    return written
