"""Replay a cassette against another provider: the suite's own run, with the cassette as its cases.

A cassette is an ordinary case file, so replaying it is a run (conformance.engine) with that file as
the case source: the same runner, verdicts, reports (results.json, matrix.md, report.html, junit.xml)
and exit status. This module only checks the cassette and picks the defaults that suit a replay
(reports in reports/replay-<host>/, the recorded model when the provider has it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from conformance import engine, run_args, terminal
from conformance.cases import load_file
from conformance.errors import UsageError
from conformance.yamlfile import safe_load


def check_cassette(path: Path) -> int:
    """The number of recorded calls; a missing, unreadable, invalid or empty cassette is a UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: no such cassette file")
    count = len(load_file(path))  # names the file, case and field of any problem
    if not count:
        raise UsageError(f"{path}: the cassette has no recorded calls")
    return count


def recorded_models(path: Path) -> list[str]:
    data = safe_load(path.read_text(encoding="utf-8"))
    recorded = data.get("x-recorded") if isinstance(data, dict) else None
    models = recorded.get("models") if isinstance(recorded, dict) else None
    return [m for m in models if isinstance(m, str)] if isinstance(models, list) else []


def replay_options(args: argparse.Namespace) -> engine.RunOptions:
    """The run a replay is: the cassette as its cases, the recorded model preferred, one call at a time."""
    out = args.out or Path("reports") / engine.path_slug(f"replay-{engine.default_provider(args.base_url)}")
    return engine.RunOptions(
        **{**run_args.shared_options(args), "out": out},
        cases_dir=args.cassette,
        preferred_models=recorded_models(args.cassette),
    )


def replay_main(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    check_cassette(args.cassette)
    prepared = engine.prepare(replay_options(args))
    stderr.print(f"Replaying {args.cassette} against {prepared.base_url} (model {prepared.model})", highlight=False)
    return terminal.run_prepared(prepared, stdout, stderr).status
