"""The pytest plugin, driven through pytest itself (pytester) against the real reference server.

Each test starts an inner pytest run in-process with the plugin loaded from its `pytest11` entry point,
as a user's run would: collection and selection need no server; verdicts are checked against the
real server, the CLI's own verdicts and a proxy that breaks one rule; and one run of the whole suite
through pytest must pass except where the reference server's profile documents a refusal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
from mutating_proxy import running_proxy
from mutation_support import strip
from plugin_run import PluginRun, outcomes_by_case

from conformance.api import list_cases
from conformance.cli import main as cli_main
from conformance.providers import Claim, find_profile
from conformance.pytest_plugin.items import case_markers, marker_name
from conformance.reports import RUN_FILES
from conformance.results import Verdict, load
from reference_server.launcher import RunningServer

pytest_plugins = ["pytester"]

CASES = list_cases()
UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens on loopback
PROVIDER = "reference-server"


def documented_refusals() -> set[str]:
    profile = find_profile(PROVIDER)
    assert profile is not None

    def refused(endpoint: str, parameter: str) -> bool:
        claim = profile.claim(endpoint, parameter)
        return claim is not None and claim.claim is Claim.UNSUPPORTED

    return {c.id for c in CASES if refused(c.endpoint, c.parameter)}


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    """The node ids a collect-only run lists (it never calls the server: the URL is unreachable)."""
    result = pytester.runpytest_inprocess("--co", "-q", "--conformance-base-url", UNREACHABLE, *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    return [line for line in result.outlines if "::" in line]


# --- without the option, and collection ---------------------------------------------------------


def test_without_a_base_url_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass")
    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("conformance") is not None  # loaded from the pytest11 entry point
    assert config.pluginmanager.get_plugin("conformance-session") is None
    assert not [m for m in config.getini("markers") if m.startswith(("conformance:", "chat_completions:"))]
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=1)


def test_every_case_is_one_item_with_markers_for_k_and_m(pytester: pytest.Pytester) -> None:
    ids = collected(pytester)
    assert len(ids) == len(CASES)
    assert "cases/chat_length.yaml::chat.stop.string" in ids  # the case file outside the rootdir, then the id

    chat = [c.id for c in CASES if c.endpoint == "chat.completions"]
    assert [i.split("::")[1] for i in collected(pytester, "--strict-markers", "-m", "chat_completions")] == chat
    usage = {c.id for c in CASES if c.parameter == "stream_options.include_usage"}
    assert usage
    picked = collected(pytester, "--strict-markers", "-m", "param_stream_options_include_usage")
    assert {i.split("::")[1] for i in picked} == usage
    core = [c.id for c in CASES if c.profile == "core"]
    assert len(collected(pytester, "-m", "conformance and not profile_vllm")) == len(core) < len(CASES)
    stops = [c.id for c in CASES if c.id.startswith("chat.stop.")]
    assert len(stops) >= 3
    assert [i.split("::")[1] for i in collected(pytester, "-k", "chat.stop.")] == stops
    by_row = {i.split("::")[1] for i in collected(pytester, "-k", "completions/suffix")}
    assert by_row == {c.id for c in CASES if c.row == "completions/suffix"}


def test_marker_names_are_identifiers() -> None:
    assert marker_name("chat.completions") == "chat_completions"
    assert case_markers(next(c for c in CASES if c.id == "chat.stop.string")) == [
        "conformance", "chat_completions", "param_stop", "profile_core"
    ]  # fmt: skip
    for case in CASES:
        assert all(name.isidentifier() for name in case_markers(case)), case.id


def test_node_ids_are_relative_to_the_rootdir(pytester: pytest.Pytester) -> None:
    cases_dir = pytester.path / "specs" / "cases"
    cases_dir.mkdir(parents=True)
    source = next(c.source for c in CASES if c.endpoint == "models")
    shutil.copy(source, cases_dir / source.name)
    ids = collected(pytester, "--conformance-cases-dir", str(cases_dir))
    assert ids and all(i.startswith(f"specs/cases/{source.name}::") for i in ids)


# --- verdicts -----------------------------------------------------------------------------------


def test_verdicts_and_reports_are_those_of_conformance_run(
    pytester: pytest.Pytester, server: RunningServer, tmp_path: Path
) -> None:
    selection = ["models.*", "completions.suffix", "chat.stop.string"]
    ids = {c.id for c in list_cases(only=selection)}
    report = tmp_path / "pytest-report"
    result = pytester.runpytest_inprocess(
        "--junitxml", "junit.xml", "--conformance-base-url", server.base_url, "--conformance-provider", PROVIDER,
        "--conformance-report", str(report), "-k", "models or completions.suffix or chat.stop.string",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=len(ids) - 1, xfailed=1)

    assert cli_main(["run", "--base-url", server.base_url, "--provider", PROVIDER, "--out", str(tmp_path / "cli"),
                     *(a for p in selection for a in ("--only", p))]) == 1  # fmt: skip
    cli = {c.case_id: c.verdict for c in load(tmp_path / "cli" / "results.json").cases}
    assert set(cli) == ids
    assert cli["completions.suffix"] is Verdict.UNSUPPORTED
    wanted = {case_id: "XFAIL" if v is Verdict.UNSUPPORTED else "PASSED" for case_id, v in cli.items()}
    assert outcomes_by_case(pytester.path / "junit.xml") == wanted

    assert sorted(p.name for p in report.iterdir()) == sorted(RUN_FILES.values())
    written = load(report / "results.json")
    assert {c.case_id: c.verdict for c in written.cases} == cli
    assert sorted(written.run.options["case_ids"]) == sorted(ids)
    assert written.run.provider == PROVIDER and written.provider_profile is not None
    assert "claimed" in (report / "matrix.md").read_text(encoding="utf-8").lower()
    result.stdout.fnmatch_lines([f"conformance: {len(ids) - 1} pass, 1 unsupported of {len(ids)} cases against *"])


def test_an_undocumented_refusal_fails_with_its_reason(pytester: pytest.Pytester, server: RunningServer) -> None:
    result = pytester.runpytest_inprocess(
        "--conformance-base-url", server.base_url, "-k", "completions.suffix", "--junitxml", "junit.xml"
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["unsupported: refused with HTTP 400: *suffix*", "case completions.suffix, row completions/suffix: *"]
    )
    assert "Traceback" not in result.stdout.str()
    testcase = ElementTree.parse(pytester.path / "junit.xml").find(".//testcase")
    assert testcase is not None and testcase.find("failure") is not None
    properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
    assert properties["verdict"] == "unsupported"


def test_a_broken_rule_fails_exactly_its_items(pytester: pytest.Pytester, server: RunningServer) -> None:
    with running_proxy(server.base_url, {"stop_ignored": strip("stop")}) as proxy:
        result = pytester.runpytest_inprocess(
            "--junitxml", "junit.xml", "--conformance-base-url", proxy.base_url("stop_ignored"), "-k", "chat.stop."
        )
    assert outcomes_by_case(pytester.path / "junit.xml") == {
        "chat.stop.string": "FAILED", "chat.stop.list": "FAILED", "chat.stop.absent": "PASSED"
    }  # fmt: skip
    result.stdout.fnmatch_lines(["fail (behaviour): *", "failed checks:"])


def test_the_key_comes_from_openai_api_key_and_stays_out_of_reports(
    pytester: pytest.Pytester, keyed_server: RunningServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = keyed_server.api_key
    assert key
    args = ["--conformance-base-url", keyed_server.base_url, "-k", "models.list", "--conformance-report", str(tmp_path)]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    refused = pytester.runpytest_inprocess(*args)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["ERROR: conformance: *401*API key*"])
    monkeypatch.setenv("OPENAI_API_KEY", key)
    result = pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=1)
    written = [p.read_text(encoding="utf-8") for p in tmp_path.iterdir()]
    assert len(written) == len(RUN_FILES) and not any(key in text for text in written)
    assert key not in result.stdout.str() + result.stderr.str()


# --- usage errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--conformance-base-url", UNREACHABLE], "ERROR: conformance: cannot reach http://127.0.0.1:9/v1: *"),
        (["--conformance-model", "no-such-model"], "ERROR: conformance: no model 'no-such-model' at *"),
        (["--conformance-cases-dir", "nowhere"], "ERROR: conformance: nowhere: no such cases directory"),
        (["--conformance-report", "a-file"], "ERROR: conformance: cannot write reports to a-file: *"),
        (["--conformance-concurrency", "0"], "ERROR: conformance: --conformance-concurrency must be at least 1, *"),
    ],
)
def test_a_usage_error_is_one_line_and_no_item_runs(
    pytester: pytest.Pytester, server: RunningServer, args: list[str], message: str
) -> None:
    (pytester.path / "a-file").write_text("not a directory")
    base = [] if "--conformance-base-url" in args else ["--conformance-base-url", server.base_url]
    result = pytester.runpytest_inprocess(*base, *args, "-k", "models.list")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "PASSED" not in result.stdout.str() and "FAILED" not in result.stdout.str()


# --- the whole suite from pytest ------------------------------------------------------------------


def test_the_whole_suite_passes_from_pytest_on_the_reference_server(suite_via_pytest: PluginRun) -> None:
    """What CI runs: every case an item, every item passes but the refusals the profile documents.

    The run (tests/plugin_run.py) is shared with test_harness_suite, which judges its results.json.
    """
    run = suite_via_pytest
    assert sorted(run.outcomes) == sorted(c.id for c in CASES), run.output[-4000:]
    not_passed = {case_id: word for case_id, word in run.outcomes.items() if word != "PASSED"}
    assert not_passed == dict.fromkeys(documented_refusals(), "XFAIL"), json.dumps(not_passed, indent=1)
    assert run.returncode == pytest.ExitCode.OK, run.output[-4000:]
    # and pytest's outcomes are the verdicts of the run's own report
    verdicts = {c.case_id: c.verdict for c in run.results.cases}
    assert {i for i, v in verdicts.items() if v is Verdict.PASS} == {i for i, w in run.outcomes.items() if w == "PASSED"}
