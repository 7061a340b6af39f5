#!/usr/bin/env bash
# Hand checks of transformers-serve (see check-peer.sh): starts it as reports/peers/run-transformers-serve.sh does, probes with curl,
# writes reports/peers/hand-checks/transformers-serve.md. `--render` rewrites the markdown from the last evidence.
exec bash "$(dirname "$0")/check-peer.sh" transformers-serve "$@"
