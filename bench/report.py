"""The benchmark's outputs: results.json (everything, with every run) and a table of ratios for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate


def _fmt(fig: dict[str, Any] | None, unit: str = "", digits: int = 2, quartiles: bool = False) -> str:
    """`median [min-max] n=runs`; with quartiles (for many noisy samples) `median (p25..p75) [min-max]`."""
    if not fig or fig.get("median") is None:
        return "n/a"
    iqr = f" (IQR {fig['p25']:.{digits}f}..{fig['p75']:.{digits}f})" if quartiles else ""
    return f"{fig['median']:.{digits}f}{unit}{iqr} [{fig['min']:.{digits}f}..{fig['max']:.{digits}f}] n={fig['n']}"


def _verdict(fig: dict[str, Any] | None, *, at_least: float | None = None, at_most: float | None = None) -> str:
    if not fig or fig.get("median") is None:
        return "n/a"
    value = fig["median"]
    ok = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    return "met" if ok else "MISSED"


def rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """One row per figure: what, median [min-max] n=runs, target, met or not."""
    out: list[dict[str, str]] = []

    def add(what: str, value: str, target: str = "", verdict: str = "") -> None:
        out.append({"figure": what, "median [min-max] n": value, "target": target, "": verdict})

    single = results.get("single_stream") or {}
    contenders = single.get("contenders", {})
    ratios = single.get("ratios", {})
    for name, label in [("reference", "reference server"), ("in-process", "llama-cpp-python in-process"),
                        ("peer-server", "llama-cpp-python server")]:  # fmt: skip
        if name in contenders:
            add(f"decode tokens/s, {label}", _fmt(contenders[name]["decode_tokens_per_s"], digits=1))
            add(f"time to first token, {label}", _fmt(contenders[name]["ttft_ms"], " ms", 1, quartiles=True))
    if "decode_vs_in-process" in ratios:
        fig = ratios["decode_vs_in-process"]
        add("decode ratio: reference / in-process", _fmt(fig, "x", 3), ">= 0.95x", _verdict(fig, at_least=0.95))
        fig = ratios["ttft_overhead_ms_vs_in-process"]
        add("TTFT overhead: reference - in-process (paired)", _fmt(fig, " ms", 1, quartiles=True), "<= 10 ms",
            _verdict(fig, at_most=10.0))  # fmt: skip
    if "decode_vs_peer-server" in ratios:
        fig = ratios["decode_vs_peer-server"]
        add("decode ratio: reference / llama-cpp-python server", _fmt(fig, "x", 3), ">= 1.0x", _verdict(fig, at_least=1.0))
        add("TTFT ratio: reference / llama-cpp-python server (paired)", _fmt(ratios["ttft_vs_peer-server"], "x", 3, quartiles=True))
    elif results.get("peer", {}).get("reason"):
        add("llama-cpp-python server", "not measured: " + results["peer"]["reason"][:80])
    for clients, fig in (results.get("load") or {}).get("clients", {}).items():
        complete = "all complete" if fig["all_completed"] else "NOT all complete"
        add(
            f"{clients} streams: completion, errors",
            f"{complete}, {len(fig['errors'])} errors",
            "all, 0 errors",
            "met" if fig["all_completed"] and not fig["errors"] else "MISSED",
        )
        add(f"{clients} streams: aggregate tokens/s", _fmt(fig["aggregate_tokens_per_s"], digits=1))
        add(f"{clients} streams: aggregate / same requests one by one", _fmt(fig["aggregate_vs_one_by_one"], "x", 3))
        add(f"{clients} streams: TTFT p50", _fmt(fig["ttft_p50_ms"], " ms", 0))
        add(f"{clients} streams: TTFT p99", _fmt(fig["ttft_p99_ms"], " ms", 0))
    disc = results.get("disconnects")
    if disc:
        add(
            f"{disc['clients']} clients hang up: follow-up latency / idle",
            _fmt(disc["followup_slowdown"], "x", 2),
            "healthy, ~1x",
            "met" if disc["healthy_after_every_run"] else "MISSED",
        )
    harness = results.get("harness") or {}
    overhead = harness.get("overhead")
    if overhead:
        add(f"suite wall time ({overhead['cases']} cases, concurrency {overhead['concurrency']})", _fmt(overhead["wall_s"], " s", 1))
        fig = overhead["overhead_share"]
        pct = {k: (v * 100 if isinstance(v, float) else v) for k, v in fig.items() if k != "runs"}
        add("harness overhead share of the run", _fmt(pct, "%", 2), "<= 5%", _verdict(fig, at_most=0.05))
        add("cases/s against the reference server", _fmt(overhead["cases_per_s"], digits=2))
    stub = harness.get("stub")
    if stub:
        add("cases/s against an instant stub (replay)", _fmt(stub["cases_per_s"], digits=1))
        if harness.get("speed_ratio"):
            add("harness speed limit / reference-server pace", _fmt(harness["speed_ratio"], "x", 1), "> 1x",
                _verdict(harness["speed_ratio"], at_least=1.0))  # fmt: skip
    return out


def table(results: dict[str, Any]) -> str:
    return tabulate(rows(results), headers="keys", tablefmt="github")


def write(results: dict[str, Any], path: Path) -> None:
    """results.json, and the same table as Markdown beside it (results.md) for the README."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results["table"] = rows(results)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    machine = results.get("machine", {})
    header = (
        f"Measured {results.get('started_at', '?')} ({results.get('budget')} budget) at commit "
        f"{results.get('commit', '?')[:10]}, {machine.get('cpus')} CPUs, load average at start "
        f"{', '.join(f'{x:.2f}' for x in machine.get('load_average_at_start', []))}.\n\n"
    )
    path.with_suffix(".md").write_text(header + table(results) + "\n", encoding="utf-8")
