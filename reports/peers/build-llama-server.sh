#!/usr/bin/env bash
# Builds llama.cpp's own C++ server (llama-server) from the llama.cpp sources vendored in the
# llama-cpp-python 0.3.36 source distribution (the same llama.cpp the reference server and
# llama-cpp-python run), into the ignored cache .cache/llama-server/. CPU only, no libcurl (the
# server never downloads a model), no -march=native (the binary runs on any x86-64 machine).
# A no-op when the binary is already there. Prints the binary's path and writes it to
# .cache/llama-server/BINARY_PATH.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION=0.3.36
CACHE="$REPO/.cache/llama-server"
SRC="$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp"
BIN="$SRC/build/bin/llama-server"
JOBS="${JOBS:-2}"
if [ -x "$BIN" ]; then
  echo "$BIN" >"$CACHE/BINARY_PATH"
  echo "$BIN"
  exit 0
fi
mkdir -p "$CACHE"
SDIST="$CACHE/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  python3.11 -m pip download "llama-cpp-python==$VERSION" --no-binary :all: --no-deps -d "$CACHE" >&2
fi
if [ ! -d "$SRC" ]; then
  tar -xzf "$SDIST" -C "$CACHE"
fi
start=$(date +%s)
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON \
  -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$SRC/build" --config Release --target llama-server -j "$JOBS" >&2
echo "llama-server built in $(( $(date +%s) - start )) s (cmake configure + build, -j $JOBS)" >&2
"$BIN" --version >&2 || true
echo "$BIN" >"$CACHE/BINARY_PATH"
echo "$BIN"
