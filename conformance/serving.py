"""Serve an ASGI app from a background thread: the recording proxy in notebooks and tests, and the
tests' fault-injecting proxies. One place knows how to wait for uvicorn to be up and to stop it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def serving_in_thread(
    server: uvicorn.Server, sock: socket.socket | None = None, what: str = "server", start_timeout: float = 20.0
) -> Iterator[None]:
    """Run `server` (on `sock` if given, else on its config's host and port) until the block ends."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]} if sock else {}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
