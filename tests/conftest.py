"""Shared fixtures: the real reference server on the real bundled model, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from plugin_run import PluginRun, run_whole_suite

from reference_server.launcher import RunningServer, running_server

TEST_API_KEY = "sk-test-conformance-key"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One keyless reference server shared by the whole session (model load is the slow part)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(log_path=str(log)) as srv:
        yield srv


@pytest.fixture(scope="session")
def suite_via_pytest(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> PluginRun:
    """The whole suite, once per session, through the pytest plugin (see tests/plugin_run.py)."""
    return run_whole_suite(server.base_url, tmp_path_factory.mktemp("suite-via-pytest"), "reference-server")


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A reference server that requires TEST_API_KEY on every route."""
    log = tmp_path_factory.mktemp("keyed") / "server.log"
    with running_server(api_key=TEST_API_KEY, log_path=str(log)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    """The official SDK on the keyless server; no retries, so a server fault shows on the first call."""
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def strict_client(server: RunningServer) -> Iterator[openai.OpenAI]:
    """Like `client`, but the SDK also validates every answer against its own types."""
    with openai.OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=120, _strict_response_validation=True
    ) as c:
        yield c


@pytest.fixture(scope="module")
def model_id(client: openai.OpenAI) -> str:
    """The one model the server lists: tests ask the server rather than hard-code a name."""
    return client.models.list().data[0].id
