"""Command-line glue: `conformance record` and `conformance replay`.

conformance/cli.py owns the parser and calls `add_commands(commands)` with its subparsers.

record: exit 0 when stopped (Ctrl-C or SIGTERM), after a one-line summary; 2 for a bad
        --upstream or --listen, an unreachable upstream or an unwritable --out.
replay: the exit status of `conformance run` (0 every recorded call still has its shape, 1 not,
        2 usage error such as a missing or invalid cassette).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.text import Text

from conformance.argtypes import positive_float, positive_int
from conformance.credentials import API_KEY_ENV
from conformance.errors import UsageError
from conformance.record.cassette import Cassette
from conformance.record.proxy import Recorder, bind, server_for
from conformance.record.replay import replay_main

DEFAULT_LISTEN = "127.0.0.1:8089"


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    record = commands.add_parser(
        "record",
        help="record an application's API calls through a forwarding proxy, as a replayable cassette",
        description="Forward every OpenAI API call to --upstream and write each request, with the shape of "
        "its answer, to --out as cases (the suite's YAML format; no keys or auth headers). Point the "
        "application's base_url at the address printed. Ctrl-C stops and keeps everything recorded.",
    )
    record.add_argument(
        "--upstream", required=True, metavar="URL", help="the real API root, e.g. https://api.openai.com/v1"
    )
    record.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where the proxy listens (default {DEFAULT_LISTEN}; port 0 picks a free one)",
    )
    record.add_argument(
        "--out",
        type=Path,
        default=Path("calls.yaml"),
        metavar="FILE",
        help="the cassette (default calls.yaml; overwritten)",
    )
    record.set_defaults(handler=record_main)

    replay = commands.add_parser(
        "replay",
        help="replay a recorded cassette against a provider and report where its answers differ in shape",
        description="Run the recorded calls against --base-url (model: --model, else the recorded one if "
        "listed, else the first listed) and report missing fields, other types, other finish reasons, "
        "errors and stream events that differ, in the reports of `run`. Exit status as for run.",
    )
    replay.add_argument("cassette", type=Path, metavar="CASSETTE.yaml")
    replay.add_argument(
        "--base-url", required=True, metavar="URL", help="the API root of the provider to try"
    )
    replay.add_argument("--model", metavar="M", help="model that replaces the recorded one in every call")
    replay.add_argument(
        "--api-key",
        metavar="K",
        help=f"API key sent as a bearer token (default: the --provider profile's key variable, then ${API_KEY_ENV})",
    )
    replay.add_argument("--provider", metavar="NAME", help="name (or profile) for the reports, as for run")
    replay.add_argument(
        "--baseline", type=Path, metavar="OLD/results.json", help="gate on regressions, as for run"
    )
    for flag, text in (
        ("--only", "only recorded calls matching this glob (id or row)"),
        ("--exclude", "leave these out"),
    ):
        replay.add_argument(flag, metavar="PATTERN", action="extend", nargs="+", default=[], help=text)
    replay.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="calls in flight (default 1, as recorded)",
    )
    replay.add_argument(
        "--timeout", type=positive_float, default=60.0, metavar="S", help="seconds per call (default 60)"
    )
    replay.add_argument(
        "--out", type=Path, metavar="DIR", help="report directory (default reports/replay-<host>/)"
    )
    replay.set_defaults(handler=replay_main)


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:8089`, `[::1]:8089`, `localhost:0` or just a port."""
    host, port_text = (
        ("127.0.0.1", text) if text.isdigit() else (text.rpartition(":")[0], text.rpartition(":")[2])
    )
    host = host.strip("[]")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--listen must be HOST:PORT such as {DEFAULT_LISTEN}, got {text!r}")
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_upstream(upstream: str) -> str:
    """A reachable http(s) URL; any HTTP answer counts (the key is the application's, not ours)."""
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--upstream must be an http(s) URL such as http://127.0.0.1:8080/v1, got {upstream!r}"
        )
    upstream = upstream.rstrip("/")
    try:
        httpx.get(f"{upstream}/models", timeout=10.0)
    except httpx.HTTPError as exc:
        raise UsageError(
            f"cannot reach the upstream {upstream}: {type(exc).__name__}: {exc or 'no answer'}"
        ) from None
    return upstream


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def record_main(args: argparse.Namespace, stdout: Console, stderr: Console) -> int:
    host, port = parse_listen(args.listen)
    upstream = check_upstream(args.upstream)
    cassette = Cassette(args.out, upstream)
    try:
        cassette.write()
    except OSError as exc:
        raise UsageError(f"cannot write the cassette {args.out}: {exc.strerror or exc}") from None
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    if not _is_loopback(host):
        stderr.print(
            Text(
                f"warning: listening on {host}, not loopback: anyone who can reach it can use the upstream with their calls"
            )
        )
    recorder = Recorder(upstream, cassette, lambda line: stderr.print(Text(line)))
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{sock.getsockname()[1]}{recorder.prefix}"
    stderr.print(
        Text(
            f"Recording {upstream} to {args.out}: set the application's base_url to {address} (Ctrl-C stops)"
        )
    )
    signal.signal(signal.SIGTERM, _stop)  # uvicorn re-raises the signal that stopped it once it is done
    try:
        server_for(recorder).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    skipped = f", {recorder.not_recorded} not recorded" if recorder.not_recorded else ""
    stdout.print(Text(f"Recorded {len(cassette)} call(s) to {args.out}{skipped}"))
    return 0
