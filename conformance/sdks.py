"""Which official SDKs replay the cases' SDK calls (`run --sdk python,node`).

The first SDK named makes the run's case results, which the matrix is derived from as always; each
further SDK replays only the cases that make an SDK call (raw-HTTP cases would only repeat
themselves) and its results are kept beside them, so the reports can show where one official SDK
parses a provider's answers and the other does not.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance import node_sdk
from conformance.cases import Case
from conformance.errors import UsageError

KNOWN = ("python", "node")
DEFAULT = ["python"]


def parse(text: str) -> list[str]:
    """'python,node' -> ['python', 'node']; unknown or repeated names are a usage error."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError(f"--sdk needs at least one of: {', '.join(KNOWN)}")
    return check(names)


def check(names: Iterable[str]) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise UsageError(f"unknown SDK {unknown[0]!r} in --sdk (known: {', '.join(KNOWN)})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"--sdk names {repeated[0]!r} twice")
    if not names:
        raise UsageError(f"--sdk needs at least one of: {', '.join(KNOWN)}")
    if "node" in names:
        node_sdk.ensure_available()
    return names


def uses_sdk(case: Case) -> bool:
    """Whether replaying the case through another SDK measures anything new."""
    steps = [*case.steps, *(shared.step for shared in case.shared)]
    return any(step.sdk is not None for step in steps)
