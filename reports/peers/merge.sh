#!/usr/bin/env bash
# One table for all measured peers: reports/index.html (and index.md) from their results.json —
# every reports/<peer>/ folder that has one (the peers of run-all.sh first, in its order, then any
# other measured configuration such as reports/llama-server-embeddings/).
source "$(dirname "$0")/lib.sh"
ORDER=(reference-server llama-cpp-python litellm-proxy llama-server transformers-serve transformers-serve-cb llama-stack)
RUNS=()
for peer in "${ORDER[@]}"; do
  [ -f "reports/$peer/results.json" ] && RUNS+=("reports/$peer/results.json")
done
for f in reports/*/results.json; do
  peer="$(basename "$(dirname "$f")")"
  [[ " ${ORDER[*]} " == *" $peer "* ]] && continue
  [ -f "reports/$peer/RUN.md" ] || continue  # only folders a run-<peer>.sh wrote (not reports/fuzz/)
  RUNS+=("$f")
done
[ "${#RUNS[@]}" -gt 0 ] || { echo "no reports/<peer>/results.json to merge" >&2; exit 1; }
echo "merging: ${RUNS[*]}" >&2
"$PY_MAIN" -m conformance report "${RUNS[@]}" --format html --out reports/index.html
"$PY_MAIN" -m conformance report "${RUNS[@]}" --format md --out reports/index.md
