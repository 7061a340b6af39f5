#!/usr/bin/env bash
# LiteLLM's proxy (pinned in its own venv, .venv-litellm/) in front of the reference server on the
# bundled model -> reports/litellm-proxy/. The proxy's remote cost-map fetch and telemetry are off,
# so nothing leaves loopback.
source "$(dirname "$0")/lib.sh"
VENV="$REPO/.venv-litellm"
if [ ! -x "$VENV/bin/litellm" ]; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REPO/reports/peers/requirements-litellm.txt"
fi
UPSTREAM="$(free_port)"
SNAP="$(reference_server_snapshot)"
start /tmp/peer-litellm-upstream.log env -C "$SNAP" "$PY_MAIN" -m reference_server --host 127.0.0.1 --port "$UPSTREAM"
wait_models "http://127.0.0.1:$UPSTREAM/v1"
CONFIG="$(mktemp --suffix=.yaml)"
cat >"$CONFIG" <<YAML
model_list:
  - model_name: SmolLM2-135M-Instruct.Q4_1
    litellm_params:
      model: openai/SmolLM2-135M-Instruct.Q4_1
      api_base: http://127.0.0.1:$UPSTREAM/v1
      api_key: none
litellm_settings:
  telemetry: false
YAML
PORT="$(free_port)"
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False DISABLE_SCHEMA_UPDATE=True
start /tmp/peer-litellm-proxy.log "$VENV/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$PORT" --telemetry False
wait_models "http://127.0.0.1:$PORT/v1" 240
VERSIONS="litellm[proxy] $(pkg_version "$VENV/bin/python" litellm) (model openai/<id> -> reference server @ $(git rev-parse --short HEAD)); litellm 1.101+ needs certifi>=2026.10.19, not on the index here"
run_suite litellm-proxy "http://127.0.0.1:$PORT/v1" "$VERSIONS" "$@"
