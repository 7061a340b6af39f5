#!/usr/bin/env bash
# The project's reference server on the bundled model, measured by the suite -> reports/reference-server/.
source "$(dirname "$0")/lib.sh"
PORT="$(free_port)"
SNAP="$(reference_server_snapshot)"
start /tmp/peer-reference-server.log env -C "$SNAP" "$PY_MAIN" -m reference_server --host 127.0.0.1 --port "$PORT"
wait_models "http://127.0.0.1:$PORT/v1"
VERSIONS="reference_server @ $(git rev-parse --short HEAD), llama-cpp-python $(pkg_version "$PY_MAIN" llama-cpp-python), fastapi $(pkg_version "$PY_MAIN" fastapi)"
run_suite reference-server "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
