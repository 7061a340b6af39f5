#!/usr/bin/env bash
# Every peer, one at a time (the machine has 2 cores), then the merged table.
set -euo pipefail
here="$(dirname "$0")"
bash "$here/run-reference-server.sh" "$@"
bash "$here/run-llama-cpp-python.sh" "$@"
bash "$here/run-litellm-proxy.sh" "$@"
bash "$here/merge.sh"
