#!/usr/bin/env bash
# Hand checks of llama-cpp-python (see check-peer.sh): starts it as reports/peers/run-llama-cpp-python.sh does, probes with curl,
# writes reports/peers/hand-checks/llama-cpp-python.md. `--render` rewrites the markdown from the last evidence.
exec bash "$(dirname "$0")/check-peer.sh" llama-cpp-python "$@"
