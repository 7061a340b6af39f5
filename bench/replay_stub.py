"""A server that answers instantly: it replays answers recorded from the reference server.

To show the harness is never the bottleneck, its speed limit is measured against a server that costs
nothing. Canned nonsense would end most cases at their first step; replaying what the reference server
really said for the same request makes every case run all its steps and checks, as in a real run.
Answers are keyed by method, path, query and the canonical JSON body; a request sent several times
gets its recorded answers in turn. Unknown requests get a 404 error envelope (counted in /__stats).

Run as `python -m bench.replay_stub RECORDING.json --port N` (a bare ASGI app on uvicorn, in its own
process so that it does not share the harness's interpreter).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import calls
from reference_server.launcher import free_port

REPO = Path(__file__).resolve().parent.parent
_DROPPED_HEADERS = {"content-length", "transfer-encoding", "date", "server", "connection", "keep-alive"}


def canonical_body(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        if not body:
            return ""
        try:
            body = json.loads(body)
        except ValueError:
            return body
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def request_key(method: str, path_and_query: str, body: Any) -> str:
    return f"{method.upper()} {path_and_query}\n{canonical_body(body)}"


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def record(outcomes: list[calls.CallOutcome], model: str, path: Path) -> int:
    """Write the answers of a run's calls as a recording; returns how many were kept."""
    answers: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        if outcome.status is None or not outcome.url:
            continue
        key = request_key(outcome.method, _path_and_query(outcome.url), outcome.request_body)
        answers.setdefault(key, []).append(
            {
                "status": outcome.status,
                "headers": {k: v for k, v in outcome.response_headers.items() if k not in _DROPPED_HEADERS},
                "body": base64.b64encode(bytes(outcome.body)).decode("ascii"),
            }
        )
    path.write_text(json.dumps({"model": model, "answers": answers}), encoding="utf-8")
    return sum(len(v) for v in answers.values())


class ReplayApp:
    def __init__(self, recording: dict[str, Any]) -> None:
        self._answers: dict[str, list[tuple[int, list[tuple[bytes, bytes]], bytes]]] = {
            key: [
                (
                    a["status"],
                    [(k.encode("latin-1"), v.encode("latin-1")) for k, v in a["headers"].items()],
                    base64.b64decode(a["body"]),
                )
                for a in answers
            ]
            for key, answers in recording["answers"].items()
        }
        self._turn: dict[str, int] = {}
        self._models = json.dumps(
            {"object": "list", "data": [{"id": recording["model"], "object": "model", "created": 0, "owned_by": "stub"}]}
        ).encode()
        self.stats = {"replayed": 0, "unknown": 0}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        path = scope["path"] + (f"?{query}" if query else "")
        status, headers, content = self._answer(scope["method"], path, body)
        headers = [*headers, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        json_type = [(b"content-type", b"application/json")]
        if path == "/__stats":
            return 200, json_type, json.dumps(self.stats).encode()
        key = request_key(method, path, body)
        answers = self._answers.get(key)
        if answers:
            turn = self._turn.get(key, 0)
            self._turn[key] = turn + 1
            self.stats["replayed"] += 1
            return answers[turn % len(answers)]
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return 200, json_type, self._models
        self.stats["unknown"] += 1
        error = {"error": {"message": f"not recorded: {method} {path}", "type": "invalid_request_error", "param": None, "code": None}}
        return 404, json_type, json.dumps(error).encode()


@contextlib.contextmanager
def running_stub(recording: Path, log_path: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run the replay stub on a free loopback port; yields its base URL (ending in /v1)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.replay_stub", str(recording), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"replay stub exited with code {proc.returncode}; see {log_path}")
                try:
                    httpx.get(f"http://127.0.0.1:{port}/__stats", timeout=1.0)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"replay stub did not answer within {timeout:.0f}s") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stub_stats(base_url: str) -> dict[str, int]:
    return httpx.get(base_url.removesuffix("/v1") + "/__stats", timeout=5.0).json()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = ReplayApp(json.loads(args.recording.read_text(encoding="utf-8")))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
