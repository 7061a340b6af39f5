"""The pytest plugin: `pytest --conformance-base-url URL` runs the suite's YAML cases as test items.

Registered through the `pytest11` entry point, so it is loaded by every pytest run of everyone who
installs this package. That is why this module only declares options and imports nothing of the
harness: without --conformance-base-url it adds no item, no marker and no hook, and costs nothing.
With it, the stateful session plugin (conformance.pytest_plugin.session) is registered for the run.
"""

from __future__ import annotations

from typing import Any

import pytest

SESSION_PLUGIN_NAME = "conformance-session"


# The options, as (flag, argparse keywords); every one is inert without --conformance-base-url.
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--conformance-base-url", {
        "metavar": "URL",
        "help": "run the conformance cases against this OpenAI-compatible base URL, e.g. "
        "http://127.0.0.1:8080/v1 (without it the plugin does nothing)",
    }),
    ("--conformance-model", {"metavar": "M", "help": "model to test (default: the first /models entry)"}),
    ("--conformance-api-key", {
        "metavar": "KEY",
        "help": "API key (default: the provider profile's key variable, then $OPENAI_API_KEY)",
    }),
    ("--conformance-provider", {
        "metavar": "NAME",
        "help": "a provider profile (specs/providers/NAME.yaml) or a plain name for the reports; refusals "
        "the profile documents as unsupported are reported as xfail",
    }),
    ("--conformance-cases-dir", {"metavar": "DIR", "help": "read the YAML cases from DIR"}),
    ("--conformance-report", {
        "metavar": "DIR",
        "help": "write results.json, matrix.md, report.html and junit.xml to DIR, as `conformance run` does",
    }),
    ("--conformance-concurrency", {"type": int, "default": 4, "metavar": "N", "help": "cases in flight (default 4)"}),
    ("--conformance-timeout", {"type": float, "default": 60.0, "metavar": "S", "help": "seconds per case (default 60)"}),
]  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "openai-conformance: the YAML cases as test items")
    for flag, keywords in OPTIONS:
        group.addoption(flag, **keywords)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("conformance_base_url", None):
        return
    from conformance.pytest_plugin.session import ConformanceSession

    config.pluginmanager.register(ConformanceSession.from_config(config), SESSION_PLUGIN_NAME)
