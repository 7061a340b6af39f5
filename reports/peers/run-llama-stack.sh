#!/usr/bin/env bash
# Llama Stack 0.7.3 as a gateway (its OpenAI-compatible /v1: models, chat completions, completions,
# embeddings, responses) in front of the reference server on the bundled model -> reports/llama-stack/.
# Own venv, .venv-llama-stack/ (Python 3.12: llama-stack >= 0.2.13 needs it), pinned by
# requirements-llama-stack.txt. The stack is configured from scratch (the starter distribution would
# enable dozens of hosted providers): inference = remote::openai with its base_url on the reference
# server (the provider id `reference`, so models are listed as reference/<id>), responses =
# inline::builtin with the dependencies it requires (vector_io inline::faiss, files inline::localfs,
# tool_runtime remote::model-context-protocol), sqlite stores in a fresh temporary directory, the
# server bound to 127.0.0.1. Nothing leaves loopback: OpenTelemetry is off, and the tiktoken
# encoding that the vector_io provider loads at start-up comes from a local cache
# (tiktoken-precache.py) instead of its download.
source "$(dirname "$0")/lib.sh"
VENV="$REPO/.venv-llama-stack"
if [ ! -x "$VENV/bin/llama" ] || ! "$VENV/bin/python" -c "import llama_stack, faiss, tiktoken_ext" 2>/dev/null; then
  PY312=""
  if python3.12 -c '' 2>/dev/null; then
    PY312="$(command -v python3.12)"
  else  # this machine's Python 3.12 is a pyenv version that is not on PATH
    v="$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.12' || true)"
    [ -n "$v" ] && PY312="$(pyenv root)/versions/$v/bin/python3.12"
  fi
  [ -n "$PY312" ] && [ -x "$PY312" ] || { echo "llama-stack 0.7.3 needs Python >= 3.12; none found (python3.12, pyenv)" >&2; exit 1; }
  "$PY312" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REPO/reports/peers/requirements-llama-stack.txt"
fi
export OTEL_SDK_DISABLED=true TIKTOKEN_CACHE_DIR="$REPO/.cache/llama-stack/tiktoken"
"$VENV/bin/python" "$REPO/reports/peers/tiktoken-precache.py" >/dev/null

UPSTREAM="$(free_port)"
SNAP="$(reference_server_snapshot)"
start /tmp/peer-llama-stack-upstream.log env -C "$SNAP" "$PY_MAIN" -m reference_server --host 127.0.0.1 --port "$UPSTREAM"
wait_models "http://127.0.0.1:$UPSTREAM/v1"

STATE="$(mktemp -d)"
PORT="$(free_port)"
cat >"$STATE/config.yaml" <<YAML
version: 2
distro_name: conformance
apis: [files, inference, responses, tool_runtime, vector_io]
providers:
  inference:
  - provider_id: reference
    provider_type: remote::openai
    config:
      api_key: none
      base_url: http://127.0.0.1:$UPSTREAM/v1
  vector_io:
  - provider_id: faiss
    provider_type: inline::faiss
    config:
      persistence: {namespace: "vector_io::faiss", backend: kv_default}
  files:
  - provider_id: builtin-files
    provider_type: inline::localfs
    config:
      storage_dir: $STATE/files
      metadata_store: {table_name: files_metadata, backend: sql_default}
  tool_runtime:
  - provider_id: model-context-protocol
    provider_type: remote::model-context-protocol
  responses:
  - provider_id: builtin
    provider_type: inline::builtin
    config:
      persistence:
        agent_state: {namespace: agents, backend: kv_default}
        responses: {table_name: responses, backend: sql_default}
storage:
  backends:
    kv_default: {type: kv_sqlite, db_path: $STATE/kvstore.db}
    sql_default: {type: sql_sqlite, db_path: $STATE/sql_store.db}
  stores:
    metadata: {namespace: registry, backend: kv_default}
    inference: {table_name: inference_store, backend: sql_default}
    conversations: {table_name: openai_conversations, backend: sql_default}
    prompts: {namespace: prompts, backend: kv_default}
    connectors: {namespace: connectors, backend: kv_default}
registered_resources:
  models: []
server:
  host: 127.0.0.1
  port: $PORT
YAML
start /tmp/peer-llama-stack.log "$VENV/bin/llama" stack run "$STATE/config.yaml" --port "$PORT"
wait_models "http://127.0.0.1:$PORT/v1" 240
VERSIONS="llama-stack $(pkg_version "$VENV/bin/python" llama-stack) (Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')), openai $(pkg_version "$VENV/bin/python" openai), fastapi $(pkg_version "$VENV/bin/python" fastapi), uvicorn $(pkg_version "$VENV/bin/python" uvicorn); inference provider remote::openai (id reference) -> reference server @ $(git rev-parse --short HEAD); responses inline::builtin, vector_io inline::faiss, files inline::localfs, tool_runtime remote::model-context-protocol, sqlite stores"
run_suite llama-stack "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
