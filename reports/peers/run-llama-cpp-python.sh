#!/usr/bin/env bash
# llama-cpp-python's own OpenAI-compatible server (python -m llama_cpp.server) on the same bundled
# model, in its own venv (.venv-peers/, pinned by requirements-llama-cpp-python.txt; pip reuses the
# cached llama-cpp-python wheel) -> reports/llama-cpp-python/.
source "$(dirname "$0")/lib.sh"
VENV="$REPO/.venv-peers"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REPO/reports/peers/requirements-llama-cpp-python.txt"
fi
PORT="$(free_port)"
GGUF="$(bundled_gguf)"
# Same model id as the reference server lists, so the two runs differ only in the server.
start /tmp/peer-llama-cpp-python.log "$VENV/bin/python" -m llama_cpp.server --model "$GGUF" \
  --model_alias SmolLM2-135M-Instruct.Q4_1 --host 127.0.0.1 --port "$PORT" --n_ctx 2048 --embedding true
wait_models "http://127.0.0.1:$PORT/v1"
VERSIONS="llama-cpp-python[server] $(pkg_version "$VENV/bin/python" llama-cpp-python), fastapi $(pkg_version "$VENV/bin/python" fastapi), sse-starlette $(pkg_version "$VENV/bin/python" sse-starlette), uvicorn $(pkg_version "$VENV/bin/python" uvicorn); server flags: --n_ctx 2048 --embedding true (serves /v1/embeddings) --model_alias SmolLM2-135M-Instruct.Q4_1"
run_suite llama-cpp-python "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
