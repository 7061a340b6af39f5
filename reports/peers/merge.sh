#!/usr/bin/env bash
# One table for all measured peers: reports/index.html (and index.md) from their results.json.
source "$(dirname "$0")/lib.sh"
RUNS=()
for peer in reference-server llama-cpp-python litellm-proxy; do
  [ -f "reports/$peer/results.json" ] && RUNS+=("reports/$peer/results.json")
done
"$PY_MAIN" -m conformance report "${RUNS[@]}" --format html --out reports/index.html
"$PY_MAIN" -m conformance report "${RUNS[@]}" --format md --out reports/index.md
