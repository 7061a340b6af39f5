"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`), the peer to beat.

It needs the library's `[server]` extras, which the project does not depend on, so it runs from a
separate virtual environment: `.venv-peers/` (set up by reports/peers/) or `bench/.venv-llama-server/`
(set up by bench/setup-llama-server.sh). Without either, the comparison is reported as unavailable.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from reference_server.launcher import free_port

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = (REPO / ".venv-peers" / "bin" / "python", REPO / "bench" / ".venv-llama-server" / "bin" / "python")
MODEL_ALIAS = "smollm2-peer"


def find_peer_python(explicit: str | None = None) -> tuple[Path | None, str]:
    """An interpreter that can run llama_cpp.server, and why not if there is none."""
    candidates = [Path(explicit)] if explicit else list(CANDIDATES)
    reasons = []
    for python in candidates:
        if not python.exists():
            reasons.append(f"{python}: missing")
            continue
        probe = subprocess.run(
            [str(python), "-c", "import llama_cpp.server.app, uvicorn, sse_starlette"],
            capture_output=True,
            timeout=120,
        )
        if probe.returncode == 0:
            return python, ""
        reasons.append(f"{python}: cannot import llama_cpp.server")
    return None, "; ".join(reasons)


def peer_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import llama_cpp; print(llama_cpp.__version__)"], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


@contextlib.contextmanager
def running_peer_server(
    python: Path, model: Path, *, n_ctx: int, threads: int, log_path: Path, timeout: float = 120.0
) -> Iterator[str]:
    """Run the peer server on a free loopback port; yields its base URL (ending in /v1)."""
    port = free_port()
    cmd = [
        str(python), "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", MODEL_ALIAS,
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited with code {proc.returncode}; see {log_path}")
                try:
                    if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not answer within {timeout:.0f}s; see {log_path}")
                time.sleep(0.2)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
