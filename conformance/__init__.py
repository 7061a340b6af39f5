"""openai-conformance: measure how compatible an OpenAI-compatible server really is.

The library call is conformance.engine (also reachable here, loaded on first use):

    import conformance
    outcome = conformance.run(conformance.RunOptions(base_url="http://127.0.0.1:8080/v1"))

Nothing is imported eagerly: the pytest plugin (conformance.pytest_plugin) is loaded by every pytest
run of everyone who installs this package, and must cost nothing when it is not used.
"""

from __future__ import annotations

from typing import Any

_ENGINE = ("run", "RunOptions", "RunOutcome", "RunListener", "QuietListener", "FuzzPlan")


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from conformance import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
