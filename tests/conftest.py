"""Shared fixtures: the real reference server on the real bundled model, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reference_server.launcher import RunningServer, running_server

TEST_API_KEY = "sk-test-conformance-key"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One keyless reference server shared by the whole session (model load is the slow part)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(log_path=str(log)) as srv:
        yield srv


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A reference server that requires TEST_API_KEY on every route."""
    log = tmp_path_factory.mktemp("keyed") / "server.log"
    with running_server(api_key=TEST_API_KEY, log_path=str(log)) as srv:
        yield srv
