"""Running the cases: select them, probe the endpoints, run every case and each SDK's replays.

This is the measuring step of a run. The whole run (provider profile, API key, fuzzing, baseline,
reports, exit status) is conformance.engine, which every front end calls; `run_suite` stays for
tools and tests that want the cases' results alone. Problems the user can fix (unreachable server,
unknown model, bad case file, a pattern that matches nothing) raise UsageError before any case runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from conformance import probes as endpoint_probes
from conformance import sdks as sdk_choice
from conformance.cases import Case, load_cases, select
from conformance.credentials import API_KEY_ENV
from conformance.errors import UsageError
from conformance.matrix import derive_cells
from conformance.results import CaseResult, Repeatability, RunInfo, RunResults
from conformance.runner import Runner, Target
from conformance.version import tool_version

__all__ = [
    "Case",
    "ProgressListener",
    "RunConfig",
    "UsageError",
    "list_cases",
    "resolve_model",
    "run_cases",
    "run_suite",
]

T = TypeVar("T")


@dataclass
class RunConfig:
    base_url: str
    model: str | None = None  # None: the first model GET /models lists
    api_key: str | None = None
    provider: str = "unnamed"
    only: list[str] = field(default_factory=list)  # globs over case ids and endpoint/parameter rows
    exclude: list[str] = field(default_factory=list)
    concurrency: int = 4
    timeout: float = 60.0  # per case
    cases_dir: Path | None = None  # default: the repository's specs/cases
    # Official SDKs that replay SDK calls: the first makes `cases` (and the matrix); the others, in
    # `sdk_cases`, replay only the cases with an SDK call. See conformance.sdks.
    sdks: list[str] = field(default_factory=lambda: list(sdk_choice.DEFAULT))
    case_ids: list[str] | None = None  # exactly these cases, after only/exclude (the pytest plugin's -k/-m)


class ProgressListener(Protocol):
    """Told of the cases as they run, from the run's worker threads: a progress bar, pytest's items."""

    def started(self, total: int) -> None: ...
    def case_finished(self, result: CaseResult) -> None: ...


def list_cases(cases_dir: Path | None = None, only: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Case]:
    return select(load_cases(cases_dir), only, exclude)


def run_suite(config: RunConfig, listener: ProgressListener | None = None) -> RunResults:
    """The cases' results, the model resolved first (config.model if the server has it, else the first listed)."""
    model = resolve_model(config.base_url, config.api_key, config.model, timeout=min(config.timeout, 30.0))
    return run_cases(config, model, listener)


def run_cases(config: RunConfig, model: str, listener: ProgressListener | None = None) -> RunResults:
    """run_suite for a model already resolved: the engine resolves it once, with its other checks."""
    if config.concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {config.concurrency}")
    if config.timeout <= 0:
        raise UsageError(f"timeout must be positive, not {config.timeout:g}")
    cases = list_cases(config.cases_dir, config.only, config.exclude)
    if config.case_ids is not None:
        wanted = set(config.case_ids)
        cases = [case for case in cases if case.id in wanted]
    sdks = sdk_choice.check(config.sdks)
    replayed = [case for case in cases if sdk_choice.uses_sdk(case)]
    base_url = config.base_url.rstrip("/")
    target = Target(
        base_url=base_url, model=model, api_key=config.api_key, timeout=config.timeout, concurrency=config.concurrency
    )
    started_at = datetime.now(UTC)
    if listener is not None:
        listener.started(len(cases) + len(replayed) * (len(sdks) - 1))
    on_result = listener.case_finished if listener is not None else None
    results, sdk_cases, versions, measured = _run_coroutine(_run(target, sdks, cases, replayed, on_result))
    return RunResults(
        run=RunInfo(
            provider=config.provider,
            base_url=base_url,
            model=model,
            tool_version=tool_version(),
            started_at=started_at,
            finished_at=datetime.now(UTC),
            options={
                "concurrency": config.concurrency,
                "timeout": config.timeout,
                "only": list(config.only),
                "exclude": list(config.exclude),
                "cases_dir": str(config.cases_dir) if config.cases_dir else None,
                "sdks": sdks,
                "sdk_versions": versions,
                **({"case_ids": list(config.case_ids)} if config.case_ids is not None else {}),
            },
        ),
        cases=results,
        cells=derive_cells(results),
        sdk_cases=sdk_cases,
        repeatability=list(measured.values()),
    )


async def _run(
    target: Target, sdks: list[str], cases: list[Case], replayed: list[Case], on_result: Any
) -> tuple[list[CaseResult], list[CaseResult], dict[str, str], dict[str, Repeatability]]:
    """Probe the endpoints alone, then the first SDK runs every case; the others, one after the
    other, the cases with an SDK call."""
    results: list[CaseResult] = []
    sdk_cases: list[CaseResult] = []
    versions: dict[str, str] = {}
    async with httpx.AsyncClient() as client:
        measured = await endpoint_probes.measure(
            client, target.base_url, target.api_key, target.model, {c.endpoint for c in cases}, target.timeout
        )
    for index, sdk in enumerate(sdks):
        async with Runner(target, sdk, measured) as runner:
            mine = await runner.run_all(cases if index == 0 else replayed, on_result)
            versions[sdk] = runner.sdk_version()
        if index == 0:
            results = mine
        else:
            sdk_cases += mine
    return results, sdk_cases, versions, measured


def _run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code that already runs an event loop (notebooks, async tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def resolve_model(base_url: str, api_key: str | None, model: str | None, timeout: float = 30.0) -> str:
    """The model to test: `model` if the server knows it, else the first one /models lists."""
    base_url = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base_url}/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach {base_url}: {type(exc).__name__}: {exc or 'no answer'}") from None
    if response.status_code in (401, 403):
        hint = "the API key was refused" if api_key else f"it requires an API key (--api-key or {API_KEY_ENV})"
        raise UsageError(f"{base_url}/models answered HTTP {response.status_code}: {hint}")
    ids = _model_ids(response)
    if model:
        if ids is not None and model not in ids:
            try:
                known = httpx.get(f"{base_url}/models/{model}", headers=headers, timeout=timeout).status_code
            except httpx.HTTPError:
                known = None
            if known == 404:
                listed = ", ".join(ids[:10]) or "none"
                raise UsageError(f"no model {model!r} at {base_url} (it lists: {listed})")
        return model
    if response.status_code == 404 and not base_url.endswith("/v1"):
        raise UsageError(f"{base_url}/models is not found: did you mean {base_url}/v1 ?")
    if ids is None:
        raise UsageError(f"cannot list models at {base_url}/models (HTTP {response.status_code}); pass --model")
    if not ids:
        raise UsageError(f"{base_url}/models lists no models; pass --model")
    return ids[0]


def _model_ids(response: httpx.Response) -> list[str] | None:
    if response.status_code != 200:
        return None
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
