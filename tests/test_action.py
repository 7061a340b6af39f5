"""action.yml, the reusable GitHub Action, run locally the way a runner runs a composite action:
the run and summary steps' scripts, with their `${{ }}` expressions substituted, under
`bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`), GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
pointed at temp files, against the real reference server. The install step is the project's own
venv (sys.executable); setup-python, the cache and the artifact upload are GitHub's."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from test_cli_run import MIXED_SUITE

from conformance.results import load
from reference_server.launcher import RunningServer

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _step(id_or_name: str) -> dict[str, Any]:
    return next(s for s in _action()["runs"]["steps"] if id_or_name in (s.get("id"), s.get("name")))


@dataclass
class Runner:
    """One job's state: the workspace, the step outputs so far, and the summary file."""

    workspace: Path
    inputs: dict[str, str]
    python: str = sys.executable
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def summary(self) -> Path:
        return self.workspace.parent / f"{self.workspace.name}-summary.md"

    def expand(self, text: str) -> str:
        def value(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return self.inputs[expr.removeprefix("inputs.")]
            if expr == "github.action_path":
                return str(REPO)
            step, sep, name = expr.removeprefix("steps.").partition(".outputs.")
            assert expr.startswith("steps.") and sep, f"unexpected expression {expr!r} in action.yml"
            return self.outputs.get(step, {}).get(name, "")

        return EXPR.sub(value, text)

    def run(self, step_id: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        step = _step(step_id)
        assert step["shell"] == "bash"
        output = self.workspace.parent / f"{self.workspace.name}-{step_id.split()[0]}-output"
        output.write_text("", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        env |= {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(self.summary), "COLUMNS": "200"}
        env |= {k: self.expand(str(v)) for k, v in step.get("env", {}).items()}
        env |= extra_env or {}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", self.expand(step["run"])],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        lines = output.read_text(encoding="utf-8").splitlines()
        self.outputs[step.get("id", step_id)] = dict(line.split("=", 1) for line in lines if "=" in line)
        return proc

    def job(self) -> tuple[subprocess.CompletedProcess[str], str]:
        """The run step with python = the installed suite, then the summary step (if: always())."""
        self.outputs["install"] = {"python": self.python}
        self.summary.write_text("", encoding="utf-8")
        proc = self.run("run")
        summary = self.run("Write the job summary")
        assert summary.returncode == 0, summary.stdout + summary.stderr
        return proc, self.summary.read_text(encoding="utf-8")


def _inputs(**given: str) -> dict[str, str]:
    declared = _action()["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, unknown
    return {name: given.get(name, str(spec.get("default", ""))) for name, spec in declared.items()}


def _workspace(tmp_path: Path, name: str) -> Path:
    ws = tmp_path / name
    ws.mkdir()
    return ws


def test_action_declares_the_inputs_and_steps() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    for name in (
        "base-url",
        "model",
        "api-key",
        "provider",
        "baseline",
        "only",
        "exclude",
        "fuzz",
        "targets",
    ):
        assert name in inputs and inputs[name]["default"] == "", name
    assert inputs["out"]["default"] == "reports/conformance"
    assert inputs["python-version"]["default"] == "3.11"
    steps = action["runs"]["steps"]
    uses = [str(s.get("uses", "")) for s in steps]
    setup = next(i for i, u in enumerate(uses) if u.startswith("actions/setup-python@"))
    install = next(i for i, s in enumerate(steps) if s.get("id") == "install")
    run = next(i for i, s in enumerate(steps) if s.get("id") == "run")
    summary = next(i for i, s in enumerate(steps) if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    upload = next(i for i, u in enumerate(uses) if u.startswith("actions/upload-artifact@"))
    assert setup < install < run < summary and run < upload
    assert steps[setup]["with"]["python-version"] == "${{ inputs.python-version }}"
    assert 'pip" install -q -e "$ACTION_PATH"' in steps[install]["run"]
    assert steps[install]["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    # the summary and the upload run when the run step failed too
    assert steps[summary]["if"] == "always()" and steps[upload]["if"] == "always()"
    assert steps[upload]["with"]["path"] == "${{ inputs.out }}/"
    # the key only ever travels in an environment variable, never through a script's text
    for s in steps:
        assert "api-key" not in s.get("run", "")
    assert steps[run]["env"]["INPUT_API_KEY"] == "${{ inputs.api-key }}"
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.run.outputs.exit-code }}"


def test_run_and_summary_against_the_reference_server(server: RunningServer, tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "ws")
    runner = Runner(
        ws, _inputs(**{"base-url": server.base_url, "provider": "reference-server", "only": "models/*"})
    )
    proc, summary = runner.job()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert runner.outputs["run"] == {"exit-code": "0", "reports": "reports/conformance"}
    out = ws / "reports" / "conformance"
    for name in ("results.json", "matrix.md", "report.html", "junit.xml"):
        assert (out / name).is_file(), name
    assert "✅ every case passed" in summary
    assert summary.count("# OpenAI compatibility: reference-server") == 1
    assert "| `list`" in summary and "| `retrieve`" in summary  # the matrix itself
    assert (out / "matrix.md").read_text(encoding="utf-8") in summary

    # with a baseline equal to the run: nothing got worse, exit 0
    shutil.copy(out / "results.json", ws / "baseline.json")
    again = Runner(ws, {**runner.inputs, "baseline": "baseline.json", "out": "gated"})
    proc, summary = again.job()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✅ no regression against `baseline.json`" in summary
    assert load(ws / "gated" / "results.json").baseline is not None


def _better(results_json: Path, parameter: str, dest: Path) -> None:
    data = json.loads(results_json.read_text(encoding="utf-8"))
    cells = [c for c in data["cells"] if c["parameter"] == parameter]
    assert cells and cells[0]["state"] != "supported"
    cells[0]["state"] = "supported"
    dest.write_text(json.dumps(data), encoding="utf-8")


def test_fails_on_failures_and_with_a_baseline_only_on_regressions(
    server: RunningServer, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path, "ws")
    (ws / "cases").mkdir()
    (ws / "cases" / "own.yaml").write_text(MIXED_SUITE, encoding="utf-8")
    common = {"base-url": server.base_url, "args": "--cases-dir cases"}
    plain = Runner(ws, _inputs(**common, out="plain"))
    proc, summary = plain.job()
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a failing case, no baseline: red
    assert plain.outputs["run"]["exit-code"] == "1"
    assert "`conformance run` exited 1" in summary and "| `retrieve`" in summary

    same = Runner(ws, _inputs(**common, out="same", baseline="plain/results.json"))
    proc, summary = same.job()
    assert proc.returncode == 0, proc.stdout + proc.stderr  # known failures, nothing got worse
    assert "no regression" in summary

    _better(ws / "plain" / "results.json", "retrieve", ws / "better.json")
    worse = Runner(ws, _inputs(**common, out="worse", baseline="better.json"))
    proc, summary = worse.job()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert worse.outputs["run"]["exit-code"] == "1"
    assert "❌ 1 regression(s) against `better.json`" in summary
    regression = summary.index("| **regression** | `models` | `retrieve`")
    assert summary.index("❌ 1 regression(s)") < regression < summary.index("## `models`")
    assert (ws / "worse" / "report.html").is_file()


FAKE_CLI = """#!/usr/bin/env bash
# stands in for the venv's python: records `-m conformance ...` and the key it was given
printf '%s\\n' "$@" > "$FAKE_LOG.args"
printf '%s' "${OPENAI_API_KEY-}" > "$FAKE_LOG.key"
if [ "${4-}" = --help ]; then
  echo "usage: conformance run [-h] [--base-url URL]"
  echo "  --base-url URL        the API root"
  if [ -n "${FAKE_TARGETS-}" ]; then echo "  --targets FILE        a targets file"; fi
  exit 0
fi
exit 0
"""


def _fake(tmp_path: Path) -> str:
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_CLI, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return str(fake)


def test_inputs_become_arguments_and_the_key_an_environment_variable(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "ws")
    (ws / "chat.x").write_text("", encoding="utf-8")  # a glob the shell must not expand
    log = tmp_path / "call"
    runner = Runner(
        ws,
        _inputs(
            **{"base-url": "http://h/v1", "model": "m", "api-key": "sk-secret-1", "provider": "vllm"},
            baseline="b.json", only="chat.* models/list", exclude="chat.stream*", fuzz="3",
        ),
        python=_fake(tmp_path),
    )  # fmt: skip
    runner.outputs["install"] = {"python": runner.python}
    proc = runner.run("run", {"FAKE_LOG": str(log)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = Path(f"{log}.args").read_text(encoding="utf-8").splitlines()
    assert args == [
        "-m", "conformance", "run", "--out", "reports/conformance", "--base-url", "http://h/v1", "--model", "m",
        "--provider", "vllm", "--baseline", "b.json", "--only", "chat.*", "models/list",
        "--exclude", "chat.stream*", "--fuzz", "3",
    ]  # fmt: skip
    assert Path(f"{log}.key").read_text(encoding="utf-8") == "sk-secret-1"
    assert "sk-secret-1" not in " ".join(args)
    assert [line for line in proc.stdout.splitlines() if "sk-secret-1" in line] == ["::add-mask::sk-secret-1"]

    no_fuzz = Runner(ws, _inputs(**{"base-url": "http://h/v1"}, fuzz="0"), python=runner.python)
    no_fuzz.outputs["install"] = {"python": no_fuzz.python}
    assert no_fuzz.run("run", {"FAKE_LOG": str(log)}).returncode == 0
    assert Path(f"{log}.args").read_text(encoding="utf-8").split() == [
        "-m", "conformance", "run", "--out", "reports/conformance", "--base-url", "http://h/v1",
    ]  # fmt: skip
    assert Path(f"{log}.key").read_text(encoding="utf-8") == ""


def test_targets_pass_through_only_when_the_cli_has_them(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "ws")
    log = tmp_path / "call"
    runner = Runner(ws, _inputs(targets="targets.yaml"), python=_fake(tmp_path))
    runner.outputs["install"] = {"python": runner.python}
    proc = runner.run("run", {"FAKE_LOG": str(log)})
    assert proc.returncode == 2
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "multi-target runs are not available yet" in errors[0], proc.stdout
    assert runner.outputs["run"]["exit-code"] == "2"
    assert Path(f"{log}.args").read_text(encoding="utf-8").split()[-1] == "--help"  # never ran the suite

    proc = runner.run("run", {"FAKE_LOG": str(log), "FAKE_TARGETS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = Path(f"{log}.args").read_text(encoding="utf-8").split()
    assert args[2:] == ["run", "--out", "reports/conformance", "--targets", "targets.yaml"]


def test_targets_against_the_installed_cli(tmp_path: Path) -> None:
    """The real CLI's help decides: without --targets, the one error line; with it, it is passed on."""
    help_text = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    if re.search(r"^ +(-[A-Za-z], )?--targets( |=|$)", help_text, re.MULTILINE):
        return  # multi-target runs exist: test_targets_pass_through_only_when_the_cli_has_them covers it
    ws = _workspace(tmp_path, "ws")
    runner = Runner(ws, _inputs(targets="targets.yaml"))
    proc, summary = runner.job()
    assert proc.returncode == 2
    assert "multi-target runs are not available yet" in proc.stdout
    assert not (ws / "reports").exists()
    assert "the suite did not run" not in summary and "No matrix.md" in summary


def test_the_readme_workflow_uses_only_the_action_inputs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## In GitHub Actions") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("\n```\n")]
    steps = yaml.safe_load(block)["jobs"]["conformance"]["steps"]
    step = next(s for s in steps if str(s.get("uses", "")).endswith("openai-conformance@<ref>"))
    assert set(step["with"]) <= set(_action()["inputs"])
    assert step["with"]["api-key"].startswith("${{ secrets.")


def test_the_summary_stays_under_githubs_limit(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "ws")
    (ws / "out" / "target-a").mkdir(parents=True)
    (ws / "out" / "target-a" / "matrix.md").write_text("| row |\n" * 300_000, encoding="utf-8")  # 2.4 MB
    runner = Runner(ws, _inputs(out="out"))
    runner.outputs["run"] = {"exit-code": "1"}
    runner.summary.write_text("", encoding="utf-8")
    proc = runner.run("Write the job summary")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = runner.summary.read_text(encoding="utf-8")
    assert "exited 1" in summary and len(summary.encode()) < 1_048_576
    assert summary.endswith("(cut at 1 MB: the whole matrix is in the artifact.)\n")
