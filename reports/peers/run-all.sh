#!/usr/bin/env bash
# Every peer, one at a time (the machine has 2 cores), then the merged table. On a fresh machine
# the scripts first build or install what they need (llama-server's build, the peer venvs; see
# README.md for how long). A peer whose script fails does not stop the others: its failure is
# reported at the end (and in the exit status), and merge.sh still merges every peer folder that
# has a results.json.
set -uo pipefail
here="$(dirname "$0")"
failed=()
run() {  # run NAME [VAR=VALUE...] SCRIPT: one peer, its wall time on stderr
  local name="$1"; shift
  local start status=0
  start=$(date +%s)
  echo "== $name: started $(date -u +%H:%M:%SZ)" >&2
  env "$@" || status=$?
  echo "== $name: exit $status after $(( $(date +%s) - start )) s" >&2
  [ "$status" = 0 ] || failed+=("$name (exit $status)")
}
run reference-server bash "$here/run-reference-server.sh" "$@"
run llama-cpp-python bash "$here/run-llama-cpp-python.sh" "$@"
run litellm-proxy bash "$here/run-litellm-proxy.sh" "$@"
run llama-server bash "$here/run-llama-server.sh" "$@"
run transformers-serve bash "$here/run-transformers-serve.sh" "$@"
run transformers-serve-cb CONTINUOUS_BATCHING=1 bash "$here/run-transformers-serve.sh" "$@"
run llama-stack bash "$here/run-llama-stack.sh" "$@"
bash "$here/merge.sh" || failed+=("merge.sh")
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
