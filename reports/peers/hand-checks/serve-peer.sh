#!/usr/bin/env bash
# Start one peer exactly as reports/peers/run-<peer>.sh starts it (its own text is run, with its
# run_suite line replaced) and keep it up for curl by hand: the base URL goes to stdout and to
# $SERVE_DIR/base_url; the server stops (with everything the script started) when $SERVE_DIR/stop appears or
# after LIFETIME seconds (default 1800).
#
#   bash reports/peers/hand-checks/serve-peer.sh llama-server|transformers-serve|llama-stack|... [SERVE_DIR]
#   BASE=$(cat SERVE_DIR/base_url); curl -s $BASE/models; touch SERVE_DIR/stop
set -euo pipefail
PEER="${1:?usage: serve-peer.sh PEER [SERVE_DIR]}"
SERVE_DIR="${2:-/tmp/serve-$PEER}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$HERE/../run-$PEER.sh"
[ -f "$RUN" ] || { echo "no $RUN" >&2; exit 2; }
mkdir -p "$SERVE_DIR"; rm -f "$SERVE_DIR/stop" "$SERVE_DIR/base_url"
serve_until_stopped() {  # called where run-<peer>.sh calls run_suite PEER BASE_URL VERSIONS
  echo "$2" >"$SERVE_DIR/base_url"; echo "$3" >"$SERVE_DIR/versions"
  echo "$2"
  for _ in $(seq 1 "${LIFETIME:-1800}"); do [ -f "$SERVE_DIR/stop" ] && break; sleep 1; done
}
SCRIPT="$(sed -e 's|^source "$(dirname "$0")/lib.sh"|source "'"$HERE"'/../lib.sh"|' -e 's|^run_suite |serve_until_stopped |' "$RUN")"
grep -q '^serve_until_stopped ' <<<"$SCRIPT" || { echo "run-$PEER.sh has no run_suite line to replace" >&2; exit 2; }
set --
eval "$SCRIPT"
