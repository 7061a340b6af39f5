#!/usr/bin/env bash
# Hugging Face `transformers serve` (transformers 5.23, `serving` extra, PyTorch 2.13.0 CPU) in its own
# venv (.venv-transformers/, pinned by requirements-transformers-serve.txt) on the bundled model
# -> reports/transformers-serve/; CONTINUOUS_BATCHING=1 runs it with --continuous-batching
# -> reports/transformers-serve-cb/.
#
# How it gets the model: `transformers serve` serves what is in the Hugging Face cache (/v1/models
# lists the cache). Its help says GGUF weights can be named `<repo>:<file>.gguf`, but in 5.23 that
# path fails on this file at start-up (the config read out of the GGUF has no `architectures`:
# model_manager.py `getattr(transformers, config.architectures[0])` -> TypeError: 'NoneType' object is
# not subscriptable). So gguf-to-hf-cache.py converts the GGUF once with transformers' own GGUF loader
# (~1 min) into a private cache, .cache/transformers-serve/hub/models--SmolLM2-135M-Instruct.Q4_1/,
# laid out as `hf download` lays a model out, and the server is started on that model id, offline,
# as a user starts it on a downloaded model: `transformers serve SmolLM2-135M-Instruct.Q4_1`.
# HF_HUB_OFFLINE=1 (no hub traffic), HF_HUB_DISABLE_UPDATE_CHECK=1 (the CLI would ask PyPI for a newer
# transformers), telemetry off.
source "$(dirname "$0")/lib.sh"
VENV="$REPO/.venv-transformers"
if [ ! -x "$VENV/bin/transformers" ] || ! "$VENV/bin/python" -c "import fastapi, uvicorn, gguf, torch" 2>/dev/null; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -r "$REPO/reports/peers/requirements-transformers-serve.txt"
fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_UPDATE_CHECK=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export HF_HUB_CACHE="$REPO/.cache/transformers-serve/hub"
MODEL=SmolLM2-135M-Instruct.Q4_1
"$VENV/bin/python" "$REPO/reports/peers/gguf-to-hf-cache.py" "$(bundled_gguf)" "$HF_HUB_CACHE" "$MODEL" \
  >/tmp/peer-transformers-convert.log 2>&1 || { cat /tmp/peer-transformers-convert.log >&2; exit 1; }
FLAGS=()
if [ "${CONTINUOUS_BATCHING:-0}" = 1 ]; then
  FLAGS+=(--continuous-batching)
  REPORT_NAME=transformers-serve-cb SCRIPT_ENV=CONTINUOUS_BATCHING=1
fi
PORT="$(free_port)"
start /tmp/peer-transformers-serve.log "$VENV/bin/transformers" serve "$MODEL" --host 127.0.0.1 --port "$PORT" "${FLAGS[@]}"
wait_models "http://127.0.0.1:$PORT/v1" 300
VERSIONS="transformers[serving] $(pkg_version "$VENV/bin/python" transformers), torch $(pkg_version "$VENV/bin/python" torch), fastapi $(pkg_version "$VENV/bin/python" fastapi), uvicorn $(pkg_version "$VENV/bin/python" uvicorn); model: the bundled GGUF converted by transformers' GGUF loader (float32) into a private HF cache as $MODEL; server: transformers serve $MODEL${FLAGS[*]:+ ${FLAGS[*]}} (FORCE_MODEL preloaded)"
run_suite transformers-serve "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
