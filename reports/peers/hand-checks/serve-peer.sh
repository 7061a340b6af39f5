#!/usr/bin/env bash
# Start one peer exactly as reports/peers/run-<peer>.sh starts it (its own text is run, with its
# run_suite line replaced) and keep it up for curl by hand: the base URL goes to stdout and to
# $STATE/base_url; the server stops (with everything the script started) when $STATE/stop appears or
# after LIFETIME seconds (default 1800).
#
#   bash reports/peers/hand-checks/serve-peer.sh llama-server|transformers-serve|llama-stack|... [STATE_DIR]
#   BASE=$(cat STATE_DIR/base_url); curl -s $BASE/models; touch STATE_DIR/stop
set -euo pipefail
PEER="${1:?usage: serve-peer.sh PEER [STATE_DIR]}"
STATE="${2:-/tmp/serve-$PEER}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$HERE/../run-$PEER.sh"
[ -f "$RUN" ] || { echo "no $RUN" >&2; exit 2; }
mkdir -p "$STATE"; rm -f "$STATE/stop" "$STATE/base_url"
serve_until_stopped() {  # called where run-<peer>.sh calls run_suite PEER BASE_URL VERSIONS
  echo "$2" >"$STATE/base_url"; echo "$3" >"$STATE/versions"
  echo "$2"
  for _ in $(seq 1 "${LIFETIME:-1800}"); do [ -f "$STATE/stop" ] && break; sleep 1; done
}
SCRIPT="$(sed -e 's|^source "$(dirname "$0")/lib.sh"|source "'"$HERE"'/../lib.sh"|' -e 's|^run_suite |serve_until_stopped |' "$RUN")"
grep -q '^serve_until_stopped ' <<<"$SCRIPT" || { echo "run-$PEER.sh has no run_suite line to replace" >&2; exit 2; }
set --
eval "$SCRIPT"
