"""The fuzzing a `conformance run` includes (--fuzz N): what to fuzz, checked before the run.

A plain value the engine can check before the suite runs for minutes and run after it, whichever
front end filled it in (the CLI's --fuzz flags, a library caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.errors import UsageError
from conformance.fuzz.results import FuzzResults

RUN_FUZZ_BUDGET = 1800.0  # seconds `run --fuzz N` may spend fuzzing unless the plan says otherwise
MAX_REQUEST_TIMEOUT = 60.0  # a fuzz request slower than this counts as a hang, whatever the case timeout


@dataclass
class FuzzPlan:
    examples: int = 0  # generated requests per endpoint and input kind; 0: no fuzzing
    endpoints: list[str] = field(default_factory=list)  # names or paths; empty: every endpoint
    seed: int | None = None  # None: a random seed, recorded in the results
    budget: float | None = None  # seconds in all; None: RUN_FUZZ_BUDGET

    @property
    def enabled(self) -> bool:
        return self.examples > 0

    def check(self) -> None:
        """Unknown endpoints are a usage error, found before the suite runs."""
        if not self.enabled:
            return
        from conformance.fuzz.overlay import UnknownEndpoint, select_endpoints

        try:
            select_endpoints(list(self.endpoints) or None)
        except UnknownEndpoint as exc:
            raise UsageError(f"--fuzz-endpoints: {exc}") from None

    def run(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None,
        request_timeout: float,
        progress: Callable[[str], None],
    ) -> FuzzResults | None:
        """The run's fuzz section, or None when the plan fuzzes nothing."""
        if not self.enabled:
            return None
        from conformance.fuzz.runner import run_fuzz  # schemathesis is slow to import: only when fuzzing

        return run_fuzz(
            base_url,
            model=model,
            api_key=api_key,
            endpoints=list(self.endpoints) or None,
            max_examples=self.examples,
            seed=self.seed,
            timeout=self.budget or RUN_FUZZ_BUDGET,
            request_timeout=min(request_timeout, MAX_REQUEST_TIMEOUT),
            progress=progress,
        )
