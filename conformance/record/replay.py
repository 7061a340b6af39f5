"""Replay a cassette against another provider: the suite's own `run`, with the cassette as its cases.

A cassette is an ordinary case file, so replaying it is `conformance run` with that file as the case
source: the same runner, verdicts, reports (results.json, matrix.md, report.html, junit.xml) and
exit status. This module only checks the cassette, picks the defaults that suit a replay (reports
in reports/replay-<host>/, the recorded model when the provider has it) and hands over to `run`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from conformance.cases import load_file
from conformance.errors import UsageError
from conformance.yamlfile import safe_load

API_KEY_ENV = "OPENAI_API_KEY"


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


def _preferred_model(base_url: str, api_key: str | None, candidates: list[str]) -> str | None:
    """The model the calls were recorded with, if the provider serves it too (else `run`'s default)."""
    from conformance.api import resolve_model

    for model in candidates:
        try:
            return resolve_model(base_url, api_key, model, timeout=10.0)
        except UsageError:
            continue
    return None


def replay_main(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    from conformance import cli

    check_cassette(args.cassette)
    run_args = cli.build_parser().parse_args(["run", "--base-url", args.base_url])  # every run default
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    model = args.model or _preferred_model(args.base_url.rstrip("/"), api_key, recorded_models(args.cassette))
    out = args.out or Path("reports") / cli.path_slug(f"replay-{cli.default_provider(args.base_url)}")
    vars(run_args).update(
        cases_dir=args.cassette,
        model=model,
        api_key=args.api_key,
        provider=args.provider,
        only=list(args.only),
        exclude=list(args.exclude),
        concurrency=args.concurrency,
        timeout=args.timeout,
        out=out,
        baseline=args.baseline,
    )
    stderr.print(
        f"Replaying {args.cassette} against {args.base_url} (model {model or 'first listed'})",
        highlight=False,
    )
    return int(run_args.handler(run_args, stdout, stderr))
