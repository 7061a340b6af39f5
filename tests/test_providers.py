"""Provider profiles: every committed one loads, bad ones are one-line usage errors, and a run with
--provider uses the profile's base URL and key variable and reports claims against measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_API_KEY
from test_cli import assert_usage_error, conformance, one_line
from test_cli_run import MIXED_SUITE
from test_compare import make_run

from conformance.errors import UsageError
from conformance.providers import Claim, Profile, load_profile, load_profiles, providers_dir
from conformance.reports import render
from conformance.reports.claims import claims_report
from conformance.results import CellState, load
from reference_server.launcher import RunningServer

REQUIRED_PROFILES = {
    "reference-server", "llama-cpp-python", "litellm-proxy", "ollama", "vllm", "llama-server", "paddler",
    "groq", "openrouter", "runpod-vllm", "vercel-ai-gateway", "anthropic-openai-compat",
}  # fmt: skip


def test_every_committed_profile_loads_with_dated_sources() -> None:
    profiles = load_profiles()
    assert {p.name for p in profiles} >= REQUIRED_PROFILES
    for profile in profiles:
        assert profile.sources and all(s.url and s.date for s in profile.sources), profile.name
        assert profile.base_url is None or profile.base_url.startswith(("http://", "https://"))


GOOD = """
name: demo
title: Demo
kind: local
base_url: http://127.0.0.1:9/v1
auth: {style: bearer, env: DEMO_KEY}
model_naming: any
sources: [{title: Docs, url: https://example.invalid/docs, date: "2026-01-01"}]
claims:
  chat.completions:
    stop: supported
    logprobs: {claim: unsupported, note: "400", source: 0}
"""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD.replace("kind: local", "kind: cloud"), "kind"),
        (GOOD.replace("stop: supported", "stop: mostly"), "stop"),
        (GOOD.replace("chat.completions:", "chat.completion:"), "unknown endpoint 'chat.completion'"),
        (GOOD.replace("source: 0", "source: 3"), "no source #3"),
        (GOOD.replace("style: bearer", "style: x-api-key"), "style"),
        (GOOD.replace("model_naming: any\n", ""), "model_naming"),
        (GOOD + "surprise: 1\n", "surprise"),
        ("name: [unclosed", "not a readable YAML profile"),
        ("- a list", "must be a mapping"),
    ],
)
def test_bad_profiles_are_one_line_usage_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_profile(path)
    message = str(info.value)
    assert fragment in message and "\n" not in message and str(path) in message


def test_a_profile_named_unlike_its_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "providers"
    folder.mkdir()
    (folder / "other.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(UsageError, match="differs from the file name"):
        load_profiles(folder)
    assert providers_dir().name == "providers"


def test_claims_against_measurement_on_a_hand_built_run(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(
        GOOD.replace("    stop: supported\n", "    stop: supported\n    n: ignored\n    seed: supported\n"),
        encoding="utf-8",
    )
    profile = load_profile(path)
    run = make_run(
        {
            "chat.completions/stop": CellState.IGNORED,  # claimed, failing
            "chat.completions/logprobs": CellState.SUPPORTED,  # documented unsupported, works
            "chat.completions/n": CellState.SUPPORTED,  # documented ignored, works
            "chat.completions/user": CellState.SUPPORTED,  # undocumented, works
            "chat.completions/top_p": CellState.REJECTED,  # undocumented, does not work: not listed
        }
    )
    report = claims_report(run.model_copy(update={"provider_profile": profile}))
    assert report is not None
    assert [r.parameter for r in report.claimed_but_failing] == ["stop"]
    assert [r.parameter for r in report.working_but_undocumented] == ["user"]
    assert [r.parameter for r in report.denied_but_working] == ["logprobs", "n"]
    assert report.not_measured == [("chat.completions", "seed")]
    md = render("md", [run.model_copy(update={"provider_profile": profile})])
    assert "## Documented claims vs measured (Demo)" in md and "### Claimed but failing" in md
    html = render("html", [run.model_copy(update={"provider_profile": profile}), run])  # merged: only the profiled run has the section
    assert html.count('class="claims"') == 1 and "https://example.invalid/docs" in html
    assert claims_report(run) is None
    assert Claim.UNKNOWN.value == "unknown" and isinstance(profile, Profile)


def _profile_for(tmp_path: Path, base_url: str, env: str = "DEMO_KEY") -> Path:
    text = GOOD.replace("http://127.0.0.1:9/v1", base_url).replace("DEMO_KEY", env)
    text = text.replace(
        'claims:\n  chat.completions:\n    stop: supported\n    logprobs: {claim: unsupported, note: "400", source: 0}\n',
        "claims:\n  models:\n    retrieve: supported\n    skipped_row: supported\n",
    )
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_with_a_profile_uses_its_base_url_and_reports_claims(
    server: RunningServer, tmp_path: Path
) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "own.yaml").write_text(MIXED_SUITE, encoding="utf-8")
    profile = _profile_for(tmp_path, server.base_url)
    out = tmp_path / "out"
    proc = conformance(
        "run", "--provider", str(profile), "--cases-dir", str(cases), "--out", str(out), env={"COLUMNS": "300"}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # own.fail and own.skip do not pass
    results = load(out / "results.json")
    assert results.run.provider == "demo" and results.run.base_url == server.base_url
    md = (out / "matrix.md").read_text(encoding="utf-8")
    claims = md[md.index("## Documented claims vs measured") :]
    failing = claims[claims.index("### Claimed but failing") : claims.index("### Working but undocumented")]
    undocumented = claims[claims.index("### Working but undocumented") : claims.index("### Documented as")]
    assert "`retrieve`" in failing and "`skipped_row`" not in failing  # untested is no evidence
    assert "`list`" in undocumented
    assert "Documented claims of demo: 1 claimed but failing, 1 working but undocumented" in proc.stdout
    assert "report.html" in proc.stdout and 'class="claims"' in (out / "report.html").read_text("utf-8")


def test_profile_key_variable_and_errors(keyed_server: RunningServer, tmp_path: Path) -> None:
    profile = _profile_for(tmp_path, keyed_server.base_url, env="DEMO_PROVIDER_KEY")
    out = tmp_path / "keyed"
    proc = conformance(
        "run", "--provider", str(profile), "--only", "models/*", "--out", str(out),
        env={"DEMO_PROVIDER_KEY": TEST_API_KEY},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert TEST_API_KEY not in (out / "results.json").read_text("utf-8")

    broken = tmp_path / "broken.yaml"
    broken.write_text(GOOD.replace("kind: local", "kind: cloud"), encoding="utf-8")
    proc = conformance("run", "--provider", str(broken), "--only", "models/*")
    assert_usage_error(proc, "broken.yaml", "kind")
    one_line(proc)

    no_default = tmp_path / "nourl.yaml"
    no_default.write_text(GOOD.replace("base_url: http://127.0.0.1:9/v1\n", ""), encoding="utf-8")
    proc = conformance("run", "--provider", str(no_default), "--only", "models/*")
    assert_usage_error(proc, "--base-url is required", "no default base URL")

    proc = conformance("run", "--provider", "plain-name", "--only", "models/*")
    assert_usage_error(proc, "--base-url is required")
