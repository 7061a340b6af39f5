"""What every mutation table shares: the outcomes, the row, the proxy over all rows, and the verdict check.

Each tests/test_mutations*.py file is one table of mutations for one area; the mechanics of running a
row through the mutating proxy and judging what the suite said are the same for all of them, so a fix
to how a row is judged lands in every table at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
from mutating_proxy import Ctx, Mutation, RunningProxy, running_proxy

from conformance.api import RunConfig, resolve_model, run_suite
from conformance.results import Cell, CellState, RunResults, Verdict, WireState
from reference_server.launcher import RunningServer

# --- expected outcomes ---------------------------------------------------------------------------


class Outcome(NamedTuple):
    """What a case must get: its verdict, its cell's behaviour state and (when given) its wire states."""

    verdict: Verdict
    state: CellState
    wire: frozenset[WireState] | None = None  # None: the wire axis is not what this row is about


_OFF_SPEC = frozenset({WireState.SPEC_VIOLATED, WireState.BREAKS_SDK})
PASSED = Outcome(Verdict.PASS, CellState.SUPPORTED)
IGNORED = Outcome(Verdict.FAIL, CellState.IGNORED)
# A schema break is on the wire axis: the behaviour still works (or is judged on its own), the answer
# is off the spec (the SDK may or may not throw on it).
SCHEMA = Outcome(Verdict.PASS, CellState.SUPPORTED, _OFF_SPEC)
REJECTED = Outcome(Verdict.UNSUPPORTED, CellState.REJECTED)
BROKEN = Outcome(Verdict.ERROR, CellState.BROKEN)
SKIPPED = Outcome(Verdict.SKIPPED, CellState.UNTESTED)
INCONCLUSIVE = Outcome(Verdict.INCONCLUSIVE, CellState.INCONCLUSIVE)


# --- which requests a mutation applies to --------------------------------------------------------


def chat(ctx: Ctx) -> bool:
    return ctx.chat


def plain(ctx: Ctx) -> bool:
    return ctx.chat and not ctx.stream


def streamed(ctx: Ctx) -> bool:
    return ctx.chat and ctx.stream


def has(*params: str) -> Callable[[Ctx], bool]:
    """A chat request carrying any of these parameters."""
    return lambda ctx: ctx.chat and any(p in (ctx.json or {}) for p in params)


def posts_to(path: str) -> tuple[Callable[[Ctx], bool], Callable[[Ctx], bool], Callable[[Ctx], bool]]:
    """`created`, `plain` and `streamed` for a create endpoint other than chat (e.g. "/completions")."""

    def created(ctx: Ctx) -> bool:
        return ctx.method == "POST" and ctx.path == path

    def plain(ctx: Ctx) -> bool:
        return created(ctx) and not ctx.stream

    def streamed(ctx: Ctx) -> bool:
        return created(ctx) and ctx.stream

    return created, plain, streamed


# --- what a mutation does ------------------------------------------------------------------------


def strip(*params: str) -> Mutation:
    """The server ignores these chat parameters."""
    return Mutation(when=has(*params), request=lambda j: {k: v for k, v in j.items() if k not in params})


def edited_copy(fn: Callable[[Any], object]) -> Callable[[Any, Ctx], Any]:
    """A body/events rewrite that edits a deep copy in place, never the object it is given (`fn`'s return is ignored)."""

    def apply(value: Any, ctx: Ctx) -> Any:
        value = copy.deepcopy(value)
        fn(value)
        return value

    return apply


def edited_or_replaced_copy(fn: Callable[[Any], Any]) -> Callable[[Any, Ctx], Any]:
    """Like `edited_copy`, but a list `fn` returns replaces the edited copy."""

    def apply(value: Any, ctx: Ctx) -> Any:
        value = copy.deepcopy(value)
        out = fn(value)
        return value if out is None else out

    return apply


# --- the table -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One mutation: what the proxy does, which cases to run, and what each flagged case must get."""

    name: str
    mutation: Mutation
    only: list[str]
    flagged: dict[str, Outcome]


def proxy_for(server_url: str, rows: list[Row]) -> AbstractContextManager[RunningProxy]:
    """One proxy serving every row under its name, plus "none", which changes nothing (the baseline)."""
    return running_proxy(server_url, {"none": Mutation(when=lambda c: False), **{r.name: r.mutation for r in rows}})


def proxy_fixture(rows: list[Row], served_model: dict[str, str] | None = None) -> Any:
    """A module's `proxy` fixture (`proxy = proxy_fixture(ROWS)`): one proxy for the module's rows.

    `served_model["id"]` is filled first with the model the server really has, for rows that answer with it.
    """

    @pytest.fixture(scope="module")
    def proxy(server: RunningServer) -> Iterator[RunningProxy]:
        if served_model is not None:
            served_model["id"] = resolve_model(server.base_url, None, None)
        with proxy_for(server.base_url, rows) as p:
            yield p

    return proxy


def assert_unmutated_passes(proxy: RunningProxy, only: list[str]) -> None:
    """Through the "none" prefix every selected case passes: the proxy itself changes nothing."""
    results = run_suite(RunConfig(base_url=proxy.base_url("none"), only=only))
    assert {c.case_id: c.verdict for c in results.cases} == dict.fromkeys(only, Verdict.PASS), [c.reason for c in results.cases]


def cells_of(results: RunResults, row: Row) -> dict[tuple[str, str], Cell]:
    """The matrix cells of a run, once the selection is shown to hold every case the row flags."""
    by_id = {c.case_id: c for c in results.cases}
    assert set(row.flagged) <= set(by_id), f"selection {row.only} misses {set(row.flagged) - set(by_id)}"
    return {(c.endpoint, c.parameter): c for c in results.cells}


def assert_only_flagged(results: RunResults, row: Row, usual: dict[str, Outcome] | None = None) -> None:
    """Each flagged case gets its verdict and cell; every other case passes and its cell stays supported.

    The second half catches a check that fires on the wrong thing. `usual`: what a case gets on the
    unmutated server when that is not a pass (e.g. a parameter the reference server refuses).
    """
    cells = cells_of(results, row)
    problems = []
    for case in results.cases:
        wanted = row.flagged.get(case.case_id) or (usual or {}).get(case.case_id, PASSED)
        cell = cells[(case.endpoint, case.parameter)]
        flagged_in_row = [cid for cid in cell.case_ids if cid in row.flagged]
        if case.verdict is not wanted.verdict:
            problems.append(f"{case.case_id}: {case.verdict.value} (wanted {wanted.verdict.value}): {case.reason}")
        elif case.case_id in row.flagged and cell.state is not wanted.state:
            problems.append(f"{case.case_id}: cell {cell.state.value} (wanted {wanted.state.value})")
        elif wanted.wire is not None and case.wire not in wanted.wire:
            wire = "/".join(sorted(w.value for w in wanted.wire))
            problems.append(f"{case.case_id}: wire {case.wire.value} (wanted {wire}): {case.violations}")
        elif not flagged_in_row and cell.state is not wanted.state:
            problems.append(f"{case.case_id}: unrelated cell {cell.parameter} is {cell.state.value}")
    assert not problems, "\n".join(problems)
