"""Watch every HTTP call the harness makes, without changing the harness.

The runner calls `conformance.calls.sdk_call` / `http_call` through the module, so wrapping those two
functions for the length of a run sees every request, shared baselines included. Each call's
`CallOutcome` already carries the start and end the harness itself measured (the same clock and the
same span as each Exchange's `duration_s` in results.json); keeping the outcomes gives the offsets
that results.json drops, which is what it takes to account for concurrent requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from conformance import calls


class CallLog:
    def __init__(self) -> None:
        self.outcomes: list[calls.CallOutcome] = []

    def intervals(self) -> list[tuple[float, float]]:
        return [(o.started, o.finished) for o in self.outcomes if o.finished is not None]


@contextlib.contextmanager
def observe_calls() -> Iterator[CallLog]:
    log = CallLog()
    originals = calls.sdk_call, calls.http_call

    def wrap(inner: Any) -> Any:
        async def observed(outcome: calls.CallOutcome, *args: Any, **kwargs: Any) -> None:
            log.outcomes.append(outcome)
            await inner(outcome, *args, **kwargs)

        return observed

    calls.sdk_call, calls.http_call = wrap(originals[0]), wrap(originals[1])
    try:
        yield log
    finally:
        calls.sdk_call, calls.http_call = originals


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Total time covered by at least one interval: when some request was in flight."""
    total = 0.0
    end = float("-inf")
    for start, finish in sorted(intervals):
        if finish <= end:
            continue
        total += finish - max(start, end)
        end = finish
    return total
