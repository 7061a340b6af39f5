#!/usr/bin/env bash
# Hand checks of llama-server (see check-peer.sh): starts it as reports/peers/run-llama-server.sh does, probes with curl,
# writes reports/peers/hand-checks/llama-server.md. `--render` rewrites the markdown from the last evidence.
exec bash "$(dirname "$0")/check-peer.sh" llama-server "$@"
