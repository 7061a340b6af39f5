"""`reference-server`: serve GGUF models (by default the bundled SmolLM2) over OpenAI's HTTP API.

Bad input at the command line ends in one readable line and a non-zero exit, never a traceback:
everything that can fail for a user reason (arguments, model files, the port) is checked before the
server starts.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

import uvicorn

from .app import create_app
from .engine import ModelLoadError
from .model_files import ModelFileError, bundled_model_path, checked_model_path, default_model_id
from .registry import ModelRegistry, ModelSpec, load_model
from .responses import ResponseStore, StoreError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
API_KEY_ENV = "REFERENCE_SERVER_API_KEY"
RESPONSES_DB_ENV = "REFERENCE_SERVER_RESPONSES_DB"


def default_responses_db() -> str:
    """Stored responses outlive the server, like OpenAI's: in the user's data directory by default."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "reference-server", "responses.sqlite3")


class UsageError(Exception):
    """Wrong command-line input; printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reference-server",
        description="A faithful OpenAI-compatible API server on llama.cpp. With no arguments it serves the "
        "bundled SmolLM2-135M-Instruct model on http://127.0.0.1:8080/v1.",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="PATH",
        help="GGUF model file to serve (repeat for several models; default: the bundled SmolLM2)",
    )
    parser.add_argument(
        "--model-id",
        "--alias",
        action="append",
        dest="model_id",
        metavar="ID",
        help="id clients use for the model given at the same position (default: file name without .gguf)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--n-ctx",
        type=_non_negative,
        default=0,
        metavar="TOKENS",
        help="context size in tokens (default 0: the model's training context)",
    )
    parser.add_argument("--threads", type=_positive, default=None, help="CPU threads for prompts and generation (default: half the CPUs)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"require this bearer key on every route (default: ${API_KEY_ENV}, else no key)",
    )
    parser.add_argument(
        "--responses-db",
        metavar="PATH",
        default=os.environ.get(RESPONSES_DB_ENV) or None,
        help=f"SQLite file for responses created with store: true, kept 30 days across restarts (default: "
        f"${RESPONSES_DB_ENV}, else {default_responses_db()}; ':memory:' keeps them only while the server runs)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="server log level"
    )
    return parser


def _model_specs(args: argparse.Namespace) -> list[ModelSpec]:
    paths = [checked_model_path(p) for p in args.model] if args.model else [bundled_model_path()]
    ids = list(args.model_id or [])
    if len(ids) > len(paths):
        raise UsageError(f"{len(ids)} model ids given for {len(paths)} model(s)")
    ids += [default_model_id(p) for p in paths[len(ids) :]]
    if any(not i.strip() for i in ids):
        raise UsageError("model ids must not be empty")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UsageError(f"model id used twice: {', '.join(duplicates)} (give each model its own --model-id)")
    return [ModelSpec(path=p, id=i) for p, i in zip(paths, ids, strict=True)]


def _check_port_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is already in use") from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        specs = _model_specs(args)
        _check_port_free(args.host, args.port)
        try:
            response_store = ResponseStore(args.responses_db or default_responses_db())
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        started = time.monotonic()
        try:
            registry = ModelRegistry([load_model(s, n_ctx=args.n_ctx, threads=args.threads) for s in specs])
        except ModelLoadError as exc:
            raise UsageError(str(exc)) from None
    except (UsageError, ModelFileError) as exc:
        print(f"reference-server: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an int() inside an argument type
        print(f"reference-server: error: {exc}", file=sys.stderr)
        return 2

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(name)s: %(message)s")
    loaded = ", ".join(f"{m.id} (n_ctx {m.engine.n_ctx})" for m in registry)
    print(
        f"reference-server: loaded {loaded} in {time.monotonic() - started:.1f}s; "
        f"serving on http://{args.host}:{args.port}/v1" + (" (API key required)" if args.api_key else ""),
        file=sys.stderr,
        flush=True,
    )
    app = create_app(registry, api_key=args.api_key, response_store=response_store)
    # Bounded shutdown: open streams are cut after a few seconds rather than generated to the end.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=3)
    return 0
