#!/usr/bin/env bash
# Re-checks by hand, once more with curl, of the cells where the hand verdict and the harness's cell
# disagree (reports/peers/HAND-CHECKS.md): starts the peer with serve-peer.sh (its run script's own
# lines), sends the requests below, writes hand-checks/recheck-<peer>.md (command, status, answer),
# and stops the server.
#
#   bash reports/peers/hand-checks/recheck.sh llama-server|llama-stack|transformers-serve|llama-cpp-python
set -euo pipefail
PEER="${1:?usage: recheck.sh PEER}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$(mktemp -d)"
OUT="$HERE/recheck-$PEER.md"
bash "$HERE/serve-peer.sh" "$PEER" "$DIR" >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'touch "$DIR/stop"; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [ -s "$DIR/base_url" ] && break; kill -0 "$SERVER" 2>/dev/null || { cat "$DIR/serve.log" >&2; exit 1; }; sleep 1; done
BASE="$(cat "$DIR/base_url")"
MODEL="$(curl -s "$BASE/models" | jq -r '.data[0].id')"
M="\"model\":\"$MODEL\""
{
  echo "# Re-checks by hand: $PEER"
  echo
  echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- Server: $(cat "$DIR/versions")"
  echo "- Started by reports/peers/hand-checks/serve-peer.sh $PEER (the run script's own lines); \`\$BASE\` = its /v1, model \`$MODEL\`"
  echo
} >"$OUT"
# r TITLE METHOD PATH [BODY] [JQ]: one request; status and (the jq view of) the body into the file.
r() {
  local title="$1" method="$2" path="$3" body="${4:-}" view="${5:-.}" resp status
  if [ -n "$body" ]; then
    resp="$(curl -s -m 300 -w '\n%{http_code}' -X "$method" -H 'Content-Type: application/json' --data-raw "$body" "$BASE$path" || true)"
  else
    resp="$(curl -s -m 60 -w '\n%{http_code}' -X "$method" "$BASE$path" || true)"
  fi
  status="${resp##*$'\n'}"; resp="${resp%$'\n'*}"
  {
    echo "## $title"; echo
    echo '```'; echo "curl -s -X $method \$BASE$path${body:+ -H 'Content-Type: application/json' -d '$body'}"; echo '```'
    echo "→ HTTP $status"; echo '```'
    { printf '%s' "$resp" | jq -c "$view" 2>/dev/null || printf '%s' "$resp"; } | cut -c1-1500
    echo '```'; echo
  } >>"$OUT"
}
# s TITLE PATH BODY: a stream; its data lines counted, event names tallied, the last 3 lines shown.
s() {
  local title="$1" path="$2" body="$3" f="$DIR/stream"
  curl -sN -m 300 -H 'Content-Type: application/json' --data-raw "$body" "$BASE$path" >"$f" || true
  {
    echo "## $title"; echo
    echo '```'; echo "curl -sN \$BASE$path -H 'Content-Type: application/json' -d '$body'"; echo '```'
    echo "→ $(grep -c '^data:' "$f" || true) data lines; event: lines $(grep -c '^event:' "$f" || true); types: $(grep '^data: {' "$f" | sed 's/^data: //' | jq -r '.type // .object' 2>/dev/null | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
    echo '```'; grep -v '^\s*$' "$f" | tail -3 | cut -c1-900; echo '```'; echo
  } >>"$OUT"
}
C=/chat/completions
case "$PEER" in
  llama-server)
    r "chat: plain greedy answer (which fields the choice and message carry)" POST $C "{$M,\"temperature\":0,\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Write one sentence about the sea.\"}]}" '{choice_keys: (.choices[0]|keys), message_keys: (.choices[0].message|keys), finish_reason: .choices[0].finish_reason, completion_tokens: .usage.completion_tokens}'
    r "chat: no messages" POST $C "{$M}"
    r "chat: messages a string" POST $C "{$M,\"messages\":\"Hi\"}"
    r "completions: no prompt" POST /completions "{$M}"
    s "completions: stream without stream_options (usage rides on the last choice chunk)" /completions "{$M,\"stream\":true,\"prompt\":\"1, 2, 3, 4, 5,\",\"max_tokens\":4,\"temperature\":0}"
    s "completions: stream with include_usage" /completions "{$M,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"prompt\":\"1, 2, 3, 4, 5,\",\"max_tokens\":4,\"temperature\":0}"
    r "embeddings: one string (server started without --embeddings)" POST /embeddings "{$M,\"input\":\"The quick brown fox\"}"
    r "responses: create (which top-level fields)" POST /responses "{$M,\"input\":\"Hi\",\"max_output_tokens\":16,\"temperature\":0}" '{keys: keys, status, output_text: [.output[]?.content[]?.text]}'
    s "responses: stream (does it end with exactly one terminal event?)" /responses "{$M,\"stream\":true,\"input\":\"Write a paragraph about the sea.\",\"max_output_tokens\":16,\"temperature\":0}"
    s "chat: stream (created per chunk)" $C "{$M,\"stream\":true,\"temperature\":0,\"max_tokens\":30,\"messages\":[{\"role\":\"user\",\"content\":\"Write one sentence about the sea.\"}]}"
    echo "created values of the chunks above: $(grep '^data: {' "$DIR/stream" | sed 's/^data: //' | jq -r .created | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}')" >>"$OUT"
    ;;
  llama-stack)
    r "models: list (top-level keys)" GET /models '' 'keys'
    r "completions: best_of 3 without logprobs" POST /completions "{$M,\"prompt\":\"The sea is\",\"best_of\":3,\"max_tokens\":6,\"temperature\":1}" '{choices: (.choices|length), usage}'
    r "completions: best_of 3 with logprobs 0 (the harness's request)" POST /completions "{$M,\"prompt\":\"The sea is\",\"best_of\":3,\"logprobs\":0,\"max_tokens\":6,\"temperature\":1}"
    r "completions: logprobs 0 alone" POST /completions "{$M,\"prompt\":\"The sea is\",\"logprobs\":0,\"max_tokens\":6,\"temperature\":1}"
    r "chat: tool_choice none (tool_calls null or absent?)" POST $C "{$M,\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in Paris?\"}],\"max_tokens\":12,\"temperature\":0,\"tool_choice\":\"none\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]}" '{message: .choices[0].message, finish_reason: .choices[0].finish_reason}'
    r "chat: no messages" POST $C "{$M}"
    r "chat: unknown model" POST $C "{\"model\":\"no-such-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
    r "chat: temperature 5" POST $C "{$M,\"temperature\":5,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
    r "embeddings: encoding_format hex" POST /embeddings "{$M,\"input\":\"fox\",\"encoding_format\":\"hex\"}"
    r "responses: max_output_tokens 16 on a long story" POST /responses "{$M,\"input\":\"Write a long story about the sea.\",\"max_output_tokens\":16,\"temperature\":0}" '{status, incomplete_details, output_tokens: .usage.output_tokens}'
    s "responses: stream (event order, output_text.done)" /responses "{$M,\"stream\":true,\"input\":\"Write a paragraph about the sea.\",\"max_output_tokens\":16,\"temperature\":0}"
    echo "response.output_text.done in the stream above: $(grep '^data: {' "$DIR/stream" | sed 's/^data: //' | jq -c 'select(.type=="response.output_text.done") | {text, item_id, content_index}' 2>/dev/null | cut -c1-300); content_part.done: $(grep '^data: {' "$DIR/stream" | sed 's/^data: //' | jq -c 'select(.type=="response.content_part.done") | {content_index, part: .part.text}' 2>/dev/null | cut -c1-300); order of the last 5 types: $(grep '^data: {' "$DIR/stream" | sed 's/^data: //' | jq -r .type | tail -5 | tr '\n' ' ')" >>"$OUT"
    ;;
  *)
    [ -f "$HERE/recheck-$PEER.requests.sh" ] || { echo "no re-checks listed for $PEER" >&2; exit 2; }
    # shellcheck source=/dev/null
    source "$HERE/recheck-$PEER.requests.sh"
    ;;
esac
echo "wrote $OUT" >&2
