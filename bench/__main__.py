"""`bench/run`: measure, print the table of ratios, write bench/results.json.

Phases, one after another on the same machine: single stream (reference server, llama-cpp-python
in-process and its own server, interleaved), load and disconnects (reference server), the default
conformance suite against the reference server (harness overhead), and the suite against an instant
replay stub (harness speed limit). `--quick` runs a tiny budget that only proves the machinery works.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import llama_cpp

from bench import harness, load, peer_server, report, single_stream
from bench.inprocess import InProcessModel
from bench.settings import Settings, load_settings
from bench.stats import summary
from reference_server.launcher import running_server
from reference_server.model_files import bundled_model_path

DEFAULT_OUTPUT = Path(__file__).with_name("results.json")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _single_stream(settings: Settings, ref_url: str, ref_model: str, args: argparse.Namespace, workdir: Path,
                   results: dict[str, Any]) -> None:  # fmt: skip
    model_path = bundled_model_path()
    http = single_stream.HttpContenders()
    inproc = InProcessModel(model_path, n_ctx=settings.n_ctx, threads=settings.threads)
    contenders = [
        http.contender("reference", ref_url, ref_model, usage=True),
        single_stream.Contender("in-process", inproc.stream_chat),
    ]
    with contextlib.ExitStack() as stack:
        python, reason = (None, "skipped (--skip-peer)") if args.skip_peer else peer_server.find_peer_python(args.peer_python)
        if python is not None:
            peer_python = python

            def start_peer() -> single_stream.Contender:
                url = stack.enter_context(
                    peer_server.running_peer_server(
                        peer_python, model_path, n_ctx=settings.n_ctx, threads=settings.threads, log_path=workdir / "peer.log"
                    )
                )
                return http.contender("peer-server", url, peer_server.MODEL_ALIAS, usage=False)

            try:
                peer = [start_peer()]
                results["peer"] = {"available": True, "python": str(python), "llama_cpp_version": peer_server.peer_version(python),
                                   "restarts": 0}  # fmt: skip

                def peer_stream(messages: list[dict[str, str]], max_tokens: int) -> Any:
                    """Another process on the machine once stopped the peer mid-run: restart it once per failure."""
                    timing = peer[0].stream(messages, max_tokens)
                    if timing.error and timing.error.startswith("ConnectError"):
                        _log("  llama-cpp-python server went away; restarting it")
                        results["peer"]["restarts"] += 1
                        peer[0] = start_peer()
                        timing = peer[0].stream(messages, max_tokens)
                    return timing

                contenders.append(single_stream.Contender("peer-server", peer_stream))
            except RuntimeError as exc:
                reason = str(exc)
        if len(contenders) < 3:
            results["peer"] = {"available": False, "reason": reason}
            _log(f"llama-cpp-python server not measured: {reason}")
        _log(f"single stream: {', '.join(c.name for c in contenders)}")
        try:
            results["single_stream"] = single_stream.measure(contenders, settings, _log)
        finally:
            http.close()
            inproc.close()


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return done.stdout.strip() or "unknown"


def _merged(path: Path, fresh: dict[str, Any], only: str) -> dict[str, Any]:
    """With --only, keep the other half's figures from the existing results file (same budget only)."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return fresh
    if old.get("budget") != fresh["budget"]:
        return fresh
    kept = ["harness"] if only == "server" else ["single_stream", "peer", "load", "disconnects"]
    merged = {**fresh, **{k: old[k] for k in kept if k in old}}
    merged["halves"] = {**old.get("halves", {}), only: {"started_at": fresh["started_at"], "machine": fresh["machine"]}}
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget: proves the machinery, numbers mean nothing")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"results file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--peer-python", help="interpreter with llama-cpp-python[server] (default: .venv-peers, bench/.venv-llama-server)")
    parser.add_argument("--skip-peer", action="store_true", help="do not compare with llama-cpp-python's server")
    parser.add_argument(
        "--only", choices=["server", "harness"], help="run one half only (the other half's figures in --output are kept)"
    )
    parser.add_argument("--harness-runs", type=int, help="suite runs against the reference server (default: the budget's)")
    args = parser.parse_args(argv)
    # A terminated run still stops the servers it started (their context managers run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = load_settings("quick" if args.quick else "full")
    if args.harness_runs:
        settings = dataclasses.replace(settings, harness=dataclasses.replace(settings.harness, runs=args.harness_runs))
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    results: dict[str, Any] = {
        "format": "openai-conformance-bench/1",
        "budget": settings.budget_name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "commit": _commit(),
        "versions": {"llama_cpp_python": llama_cpp.__version__},
        "settings": {"n_ctx": settings.n_ctx, "threads": settings.threads, "prompts": settings.prompts,
                     "budget": {k: vars(getattr(settings, k)) for k in ("single", "load", "disconnect", "harness", "stub")}},
    }  # fmt: skip
    server_args = ["--n-ctx", str(settings.n_ctx), "--threads", str(settings.threads)]
    _log(f"bench ({settings.budget_name}), work files in {workdir}")
    with running_server(server_args, log_path=str(workdir / "reference.log")) as server:
        model = httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]
        if args.only != "harness":
            _single_stream(settings, server.base_url, model, args, workdir, results)
            _log("load")
            results["load"] = load.measure_load(server.base_url, model, settings, _log)
            _log("disconnects")
            results["disconnects"] = load.measure_disconnects(server.base_url, model, settings, _log)
        if args.only != "server":
            _log("harness overhead (default suite against the reference server)")
            cases_dir = harness.committed_cases(workdir)
            results["harness_cases"] = "specs/cases at HEAD" if cases_dir else "specs/cases in the working tree"
            overhead, first, recording = harness.measure_overhead(
                server.base_url, settings.harness.only, settings.harness.runs, workdir, cases_dir, _log
            )
            results["harness"] = {"overhead": overhead}
    if args.only != "server":
        _log("harness speed limit (replay stub)")
        stub = harness.measure_stub_speed(
            recording, settings.harness.only, settings.stub.runs, first, workdir, cases_dir, _log
        )
        ref_pace = overhead["cases_per_s"]["median"]
        results["harness"]["stub"] = stub
        results["harness"]["speed_ratio"] = summary([r / ref_pace for r in stub["cases_per_s"]["runs"]], digits=2)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["load_average_at_end"] = os.getloadavg()
    if args.only:
        results = _merged(args.output, results, args.only)
    report.write(results, args.output)
    print(report.table(results))
    _log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
