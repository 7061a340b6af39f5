#!/usr/bin/env bash
# llama.cpp's own C++ server (llama-server), built once from the llama.cpp vendored in the
# llama-cpp-python 0.3.36 sdist by build-llama-server.sh (cached in .cache/llama-server/), on the
# bundled GGUF, started as its README starts a chat model: --jinja, 4 slots (--parallel 4; continuous
# batching is on by default) -> reports/llama-server/.
# /v1/embeddings: llama-server's --help says `--embeddings` is to "restrict to only support embedding
# use case; use only with dedicated embedding models", so a chat model is served without it and
# /v1/embeddings answers 501 "Start it with `--embeddings`". EMBEDDINGS=1 adds `--embeddings
# --pooling mean` (with them chat and embeddings both answer) and writes reports/llama-server-embeddings/.
source "$(dirname "$0")/lib.sh"
BIN="$(bash "$REPO/reports/peers/build-llama-server.sh")"
PORT="$(free_port)"
GGUF="$(bundled_gguf)"
FLAGS=(--alias SmolLM2-135M-Instruct.Q4_1 --jinja --parallel 4)
if [ "${EMBEDDINGS:-0}" = 1 ]; then
  FLAGS+=(--embeddings --pooling mean)
  REPORT_NAME=llama-server-embeddings SCRIPT_ENV=EMBEDDINGS=1
fi
# Same model id as the reference server lists, so the runs differ only in the server.
start /tmp/peer-llama-server.log "$BIN" -m "$GGUF" --host 127.0.0.1 --port "$PORT" "${FLAGS[@]}"
wait_models "http://127.0.0.1:$PORT/v1"
VERSIONS="llama-server $("$BIN" --version 2>&1 | head -1 | sed 's/^version: //') (llama.cpp vendored in the llama-cpp-python 0.3.36 sdist; built with -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF, GNU $(gcc -dumpfullversion)); server flags: ${FLAGS[*]}"
run_suite llama-server "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
