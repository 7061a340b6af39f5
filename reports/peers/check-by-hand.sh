#!/usr/bin/env bash
# The differences between the peers, checked by hand: the same plain curl requests against each
# server, answers (status + trimmed body) written to reports/peers/hand-checks/cross-peer.md. Independent of
# the harness: if a cell differs between servers, the matching probe here shows why in raw HTTP.
source "$(dirname "$0")/lib.sh"
MODEL=SmolLM2-135M-Instruct.Q4_1
GGUF="$(bundled_gguf)"
REF="$(free_port)"; LCP="$(free_port)"; LLM="$(free_port)"
SNAP="$(reference_server_snapshot)"
start /tmp/hand-ref.log env -C "$SNAP" "$PY_MAIN" -m reference_server --host 127.0.0.1 --port "$REF"
start /tmp/hand-lcp.log "$REPO/.venv-peers/bin/python" -m llama_cpp.server --model "$GGUF" \
  --model_alias "$MODEL" --host 127.0.0.1 --port "$LCP" --n_ctx 2048 --embedding true
wait_models "http://127.0.0.1:$REF/v1"
CONFIG="$(mktemp --suffix=.yaml)"
printf 'model_list:\n  - model_name: %s\n    litellm_params:\n      model: openai/%s\n      api_base: http://127.0.0.1:%s/v1\n      api_key: none\nlitellm_settings:\n  telemetry: false\n' \
  "$MODEL" "$MODEL" "$REF" >"$CONFIG"
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False
start /tmp/hand-llm.log "$REPO/.venv-litellm/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$LLM" --telemetry False
wait_models "http://127.0.0.1:$LCP/v1"
wait_models "http://127.0.0.1:$LLM/v1" 240

OUT="$REPO/reports/peers/hand-checks/cross-peer.md"
GREEDY='"temperature":0,"max_tokens":12,"messages":[{"role":"user","content":"Describe the sea."}]'
probe() {  # probe TITLE METHOD PATH [JSON-BODY]: the same request to every server
  local title="$1" method="$2" path="$3" body="${4:-}"
  echo "## $title"; echo
  echo "\`curl -s -X $method \$BASE$path${body:+ -d '$body'}\`"; echo
  for name in reference-server:$REF llama-cpp-python:$LCP litellm-proxy:$LLM; do
    local peer="${name%%:*}" port="${name##*:}" answer status
    if [ -n "$body" ]; then
      answer="$(curl -s -m 120 -w '\n%{http_code}' -X "$method" -H 'Content-Type: application/json' \
        --data-raw "$body" "http://127.0.0.1:$port/v1$path")"
    else
      answer="$(curl -s -m 60 -w '\n%{http_code}' -X "$method" "http://127.0.0.1:$port/v1$path")"
    fi
    status="${answer##*$'\n'}"; answer="${answer%$'\n'*}"
    echo "- **$peer**: HTTP $status"
    echo '  ```'
    answer="${answer//$'\r'/}"
    printf '%s\n' "${answer:0:1400}" | sed 's/^/  /'
    echo; echo '  ```'
  done
  echo
}
{
  echo "# Differences between the peers (reference-server, llama-cpp-python, litellm-proxy), checked by hand with curl"
  echo
  echo "Date: $(date -u +%Y-%m-%dT%H:%M:%SZ). Script: reports/peers/check-by-hand.sh (same servers, versions and"
  echo "flags as the run-<peer>.sh scripts; \$BASE is each server's http://127.0.0.1:PORT/v1)."
  echo
  probe "models: the list (the SDK requires \`created\` on each model)" GET /models
  probe "models: an unknown model (OpenAI: 404 with an error envelope)" GET /models/no-such-model
  probe "chat: greedy answer (message.refusal and choices[].logprobs are required, nullable)" POST /chat/completions "{\"model\":\"$MODEL\",$GREEDY}"
  probe "chat: unknown model (OpenAI: 404 model_not_found)" POST /chat/completions "{\"model\":\"no-such-model\",$GREEDY}"
  probe "chat: malformed JSON (OpenAI: 400)" POST /chat/completions '{"model": '
  probe "chat: temperature out of range (OpenAI: 400)" POST /chat/completions "{\"model\":\"$MODEL\",\"temperature\":5,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
  probe "chat: messages is a string (OpenAI: 400 with param messages)" POST /chat/completions "{\"model\":\"$MODEL\",\"messages\":\"Hi\"}"
  probe "chat: max_completion_tokens 3 (usage.completion_tokens <= 3, finish_reason length)" POST /chat/completions "{\"model\":\"$MODEL\",\"temperature\":0,\"max_completion_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  probe "chat: stop ' vast' (the greedy answer cut right before it)" POST /chat/completions "{\"model\":\"$MODEL\",\"stop\":\" vast\",$GREEDY}"
  probe "chat: developer message" POST /chat/completions "{\"model\":\"$MODEL\",\"temperature\":0,\"max_tokens\":4,\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}"
  probe "chat: content parts" POST /chat/completions "{\"model\":\"$MODEL\",\"temperature\":0,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]}"
  probe "chat: streamed (last choice chunk carries finish_reason; every chunk has finish_reason)" POST /chat/completions "{\"model\":\"$MODEL\",\"stream\":true,\"temperature\":0,\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
  probe "completions: list of prompts" POST /completions "{\"model\":\"$MODEL\",\"prompt\":[\"The sea\",\"The sky\"],\"max_tokens\":3,\"temperature\":0}"
  probe "completions: usage (prompt_tokens_details is an object or absent, never null)" POST /completions "{\"model\":\"$MODEL\",\"prompt\":\"The sea\",\"max_tokens\":3,\"temperature\":0}"
  probe "embeddings: one string" POST /embeddings "{\"model\":\"$MODEL\",\"input\":\"The quick brown fox\"}"
  probe "embeddings: unknown encoding_format (OpenAI: 400, error.type a string)" POST /embeddings "{\"model\":\"$MODEL\",\"input\":\"fox\",\"encoding_format\":\"hex\"}"
  probe "responses: create" POST /responses "{\"model\":\"$MODEL\",\"input\":\"Hi\",\"max_output_tokens\":16,\"temperature\":0}"
  echo "## chat: the same greedy request three times in a row (temperature 0 must give the same text)"
  echo
  echo "\`curl -s -X POST \$BASE/chat/completions -d '{\"temperature\":0,\"max_tokens\":16,...\"Write one sentence about the sea.\"}'\` x3"
  echo
  for name in reference-server:$REF llama-cpp-python:$LCP litellm-proxy:$LLM; do
    echo "- **${name%%:*}**:"
    for _ in 1 2 3; do
      curl -s -m 120 -H 'Content-Type: application/json' "http://127.0.0.1:${name##*:}/v1/chat/completions" \
        -d "{\"model\":\"$MODEL\",\"temperature\":0,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"Write one sentence about the sea.\"}]}" |
        "$PY_MAIN" -c 'import json,sys; print("  -", repr(json.load(sys.stdin)["choices"][0]["message"]["content"]))'
    done
  done
  echo
  echo "## chat: a stream while a second request arrives (the stream must still finish)"
  echo
  echo "A streamed request (max_tokens 40), and 0.7 s later a plain request on another connection."
  echo
  for name in reference-server:$REF llama-cpp-python:$LCP litellm-proxy:$LLM; do
    local_log="$(mktemp)"
    ( curl -sN -m 120 -H 'Content-Type: application/json' "http://127.0.0.1:${name##*:}/v1/chat/completions" \
        -d "{\"model\":\"$MODEL\",\"stream\":true,\"temperature\":0,\"max_tokens\":40,\"messages\":[{\"role\":\"user\",\"content\":\"Write one sentence about the sea.\"}]}" \
        >"$local_log"; echo "curl exit $?" >>"$local_log" ) &
    stream_pid=$!
    sleep 0.7
    curl -s -m 120 -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:${name##*:}/v1/chat/completions" \
      -d "{\"model\":\"$MODEL\",\"temperature\":0,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
    wait "$stream_pid"  # only the stream: the servers are children of this shell too
    finish="$(grep -o '"finish_reason": *"[a-z_]*"' "$local_log" | head -1)"
    echo "- **${name%%:*}**: $(grep -c '^data:' "$local_log") data lines, finish_reason: ${finish:-never set}, $(tail -1 "$local_log") (curl 18 = the server closed the body early)"
  done
  echo
} >"$OUT"
echo "wrote $OUT"
