#!/usr/bin/env bash
# Hand checks of llama-stack (see check-peer.sh): starts it as reports/peers/run-llama-stack.sh does, probes with curl,
# writes reports/peers/hand-checks/llama-stack.md. `--render` rewrites the markdown from the last evidence.
exec bash "$(dirname "$0")/check-peer.sh" llama-stack "$@"
