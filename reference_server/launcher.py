"""Start the reference server as a child process and wait until it answers.

Tests, benchmarks and the main-job script all need a real server on a free loopback port; this is
the one place that knows how to start one, wait for readiness, and stop it without leaking.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import httpx


def free_port() -> int:
    """Ask the kernel for an unused loopback port (racy by nature, but the window is tiny)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    base_url: str  # ends in /v1
    port: int
    api_key: str | None
    process: subprocess.Popen[bytes]


class ServerStartError(RuntimeError):
    pass


@contextlib.contextmanager
def running_server(
    extra_args: Sequence[str] = (),
    *,
    api_key: str | None = None,
    port: int | None = None,
    startup_timeout: float = 120.0,
    log_path: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run `python -m reference_server` on 127.0.0.1 until the block exits.

    A throwaway server keeps stored responses in memory unless `extra_args` name a --responses-db,
    so tests and self-runs never write into the user's data directory.
    """
    port = port or free_port()
    if not any(a == "--responses-db" or a.startswith("--responses-db=") for a in extra_args):
        extra_args = [*extra_args, "--responses-db", ":memory:"]
    cmd = [sys.executable, "-m", "reference_server", "--host", "127.0.0.1", "--port", str(port), *extra_args]
    if api_key:
        cmd += ["--api-key", api_key]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, api_key, startup_timeout)
        yield RunningServer(base_url=base_url, port=port, api_key=api_key, process=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not subprocess.DEVNULL:
            log.close()


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, api_key: str | None, timeout: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"reference server exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/models", headers=headers, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServerStartError(f"reference server did not answer on {base_url} within {timeout:.0f}s")
