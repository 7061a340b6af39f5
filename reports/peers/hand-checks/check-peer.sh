#!/usr/bin/env bash
# Hand checks of one peer, independent of the harness: start the server exactly as
# reports/peers/run-<peer>.sh starts it (its own text is run, with its last line, the
# `run_suite` call, replaced by the probes below), send plain curl requests on loopback, and write
# reports/peers/hand-checks/<peer>.md: per cell the curl command ($BASE = the server's /v1), what
# came back, what that shows (computed from the one answer, or from a small sample of answers,
# never from comparing two greedy answers), and the verdict from <peer>.verdicts (written by hand
# after reading the evidence; `--render` rewrites the markdown from the last evidence without
# starting anything).
#
#   bash reports/peers/hand-checks/check-peer.sh llama-cpp-python|llama-server|transformers-serve|llama-stack [--render]
set -euo pipefail
PEER="${1:?usage: check-peer.sh PEER [--render]}"
MODE="${2:-probe}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$HERE/../run-$PEER.sh"
[ -f "$RUN" ] || { echo "no $RUN" >&2; exit 2; }
EV="${HAND_CHECK_EVIDENCE:-/tmp/hand-checks}/$PEER"
OUTMD="$HERE/$PEER.md"
VERDICTS="$HERE/$PEER.verdicts"

lookup() {  # the verdicts line that starts with "KEY → "
  [ -f "$VERDICTS" ] || return 0
  awk -v k="$1 → " 'index($0, k) == 1 { print; exit }' "$VERDICTS"
}
render() {
  local f line key v
  {
    cat "$EV/header.md"
    echo "## Verdicts (one line per cell; the evidence for each is below)"
    echo
    grep -ho '@@VERDICT [^@]*@@' "$EV"/sec/*.md | while IFS= read -r line; do
      key="${line#@@VERDICT }"; key="${key%@@}"
      v="$(lookup "$key")"
      echo "- ${v:-$key → (not judged yet)}"
    done
    echo
    echo "## Evidence"
    echo
    for f in "$EV"/sec/*.md; do
      while IFS= read -r line; do
        if [[ "$line" == @@VERDICT*@@ ]]; then
          key="${line#@@VERDICT }"; key="${key%@@}"
          v="$(lookup "$key")"
          echo "**Verdict:** ${v:-$key → (not judged yet)}"
        else
          printf '%s\n' "$line"
        fi
      done <"$f"
      echo
    done
  } >"$OUTMD"
  echo "wrote $OUTMD" >&2
}
if [ "$MODE" = --render ]; then render; exit 0; fi

rm -rf "$EV"; mkdir -p "$EV/sec"
N=0; CUR=/dev/null
sec() {  # sec KEY TITLE: a new section; KEY is the cell ("endpoint · parameter")
  N=$((N+1)); CUR="$EV/sec/$(printf %03d "$N").md"; KEY="$1"
  printf '### %s\n\n%s\n\n' "$1" "$2" >"$CUR"
}
out() { printf '%s\n' "$*" >>"$CUR"; }
verdict() { out ""; out "@@VERDICT $KEY@@"; }
trim() { local s="${1//$'\r'/}"; s="${s//$'\n'/ }"; if [ "${#s}" -gt "${2:-700}" ]; then s="${s:0:${2:-700}}…"; fi; printf '%s' "$s"; }
# req METHOD PATH [BODY]: S = status, B = body; the command and the answer go into the section.
req() {
  local method="$1" path="$2" body="${3:-}" r
  if [ -n "$body" ]; then
    r="$(curl -s -m 180 -w '\n%{content_type}\n%{http_code}' -X "$method" -H 'Content-Type: application/json' --data-raw "$body" "$BASE$path" || true)"
    out '```'; out "curl -s -X $method \$BASE$path -H 'Content-Type: application/json' -d '$body'"; out '```'
  else
    r="$(curl -s -m 60 -w '\n%{content_type}\n%{http_code}' -X "$method" "$BASE$path" || true)"
    out '```'; out "curl -s -X $method \$BASE$path"; out '```'
  fi
  S="${r##*$'\n'}"; B="${r%$'\n'*}"; local ct="${B##*$'\n'}"; B="${B%$'\n'*}"
  out "→ HTTP $S (${ct:-no content-type})"; out '```'; out "$(trim "$B" "${TRIM:-700}")"; out '```'
}
# quiet POST: S, B, nothing written
q() { local r; r="$(curl -s -m 180 -w '\n%{http_code}' -H 'Content-Type: application/json' --data-raw "$2" "$BASE$1" || true)"; S="${r##*$'\n'}"; B="${r%$'\n'*}"; }
j() { printf '%s' "$B" | jq -r "$@" 2>/dev/null || echo "(not JSON)"; }
obs() { out ""; out "Observed: $*"; }
# stream PATH BODY: the event stream into $EV/stream.txt, headers into $EV/stream.h
stream() {
  local path="$1" body="$2"
  out '```'; out "curl -sN \$BASE$path -H 'Content-Type: application/json' -d '$body'"; out '```'
  SX=0; curl -sN -m 180 -D "$EV/stream.h" -H 'Content-Type: application/json' --data-raw "$body" "$BASE$path" >"$EV/stream.txt" || SX=$?
  S="$(head -1 "$EV/stream.h" | awk '{print $2}')"
  local ct; ct="$(grep -i '^content-type:' "$EV/stream.h" | tr -d '\r' | head -1 || true)"
  local nd; nd="$(grep -c '^data:' "$EV/stream.txt" || true)"
  out "→ HTTP $S, $ct, $nd data lines, curl exit $SX; first 2 and last 3 event lines:"; out '```'
  { grep -v '^\s*$' "$EV/stream.txt" | head -2; echo "…"; grep -v '^\s*$' "$EV/stream.txt" | tail -3; } | tr -d '\r' | cut -c1-400 >>"$CUR" || true
  out '```'
}
chunks() { grep '^data: {' "$EV/stream.txt" | sed 's/^data: //'; }
# sample LABEL PATH JQ-CONTENT BODY-WITH-@SEED@ SEEDS...: distinct answers over the seeds
sample() {
  local label="$1" path="$2" jqc="$3" tmpl="$4"; shift 4
  local answers=() s a
  for s in "$@"; do
    q "$path" "${tmpl//@SEED@/$s}"
    a="$(j "$jqc")"; [ "$S" = 200 ] || a="HTTP $S: $(trim "$B" 120)"
    answers+=("$a")
  done
  DISTINCT="$(printf '%s\n' "${answers[@]}" | sort -u | wc -l)"
  out ""; out "$label (\`curl -s \$BASE$path -d '${tmpl}'\` with @SEED@ = $*): **$DISTINCT distinct of ${#answers[@]}**"
  for a in "${answers[@]}"; do out "  - \`$(trim "$a" 160)\`"; done
}
token_ids() {  # token_ids WORD...: the bundled model's token ids (first token of each), from its tokenizer.json
  "$REPO/.venv-transformers/bin/python" - "$REPO/.cache/transformers-serve/hub/models--SmolLM2-135M-Instruct.Q4_1" "$@" <<'PY'
import glob, sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(glob.glob(sys.argv[1] + "/snapshots/*/tokenizer.json")[0])
print(" ".join(str(t.encode(w, add_special_tokens=False).ids[0]) for w in sys.argv[2:]))
PY
}

hand_checks() {  # called where run-<peer>.sh calls run_suite PEER BASE_URL VERSIONS
  local peer="$1"; BASE="$2"; local versions="$3"
  MODEL="$(curl -s "$BASE/models" | jq -r '.data[0].id')"
  local M="\"model\":\"$MODEL\""
  {
    echo "# Hand checks: $peer"
    echo
    echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- Versions and server flags: $versions"
    echo "- Server started by reports/peers/run-$peer.sh's own start lines (run by reports/peers/hand-checks/check-peer.sh $peer, which replaces only its run_suite call with these probes); \`\$BASE\` = that server's http://127.0.0.1:PORT/v1; model id \`$MODEL\` (the first /v1/models entry)"
    echo "- Plain curl on loopback, one request at a time except in the concurrency section. Verdicts are judged from properties of one answer or from distinct counts over small samples (never from comparing two greedy answers); the format is \`endpoint · parameter → behaviour (+ wire)\`, where wire is *strict* (matches OpenAI's schema), *spec-violated, SDK accepts* (the openai Python SDK still parses it), or *breaks the SDK*."
    echo
  } >"$EV/header.md"

  # ---------------- models
  sec "models · list" "GET /models: OpenAI's Model object requires id, object, created, owned_by."
  req GET /models
  obs "fields of data[0]: $(j '.data[0]|keys|join(",")'); \`created\` present: $(j '.data[0]|has("created")')"
  verdict
  sec "models · retrieve" "GET /models/{id} for the served model."
  req GET "/models/$MODEL"
  verdict
  sec "models · errors.unknown_model" "GET /models/no-such-model: OpenAI answers 404 with an error envelope."
  req GET /models/no-such-model
  obs "error envelope (error.message): $(j 'has("error") and (.error|type=="object") and (.error|has("message"))')"
  verdict

  # ---------------- chat basics
  local C=/chat/completions
  sec "chat.completions · messages" "A plain greedy request; OpenAI's message has role, content, refusal (required, nullable); choices[] have logprobs (required, nullable)."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":12,\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "content: $(j '.choices[0].message.content|tojson'); message keys: $(j '.choices[0].message|keys|join(",")'); choice keys: $(j '.choices[0]|keys|join(",")')"
  CONTROL_SEA="$(j '.choices[0].message.content')"
  verdict
  sec "chat.completions · usage" "usage on the same kind of request: prompt_tokens, completion_tokens, total_tokens are required; prompt_tokens_details / completion_tokens_details are optional."
  obs "usage of the answer above: $(j '.usage|tojson'); total = prompt + completion: $(j '.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens')"
  verdict
  sec "chat.completions · max_tokens" "max_tokens 5 on an open-ended prompt: completion_tokens ≤ 5, finish_reason length."
  req POST $C "{$M,\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about the sea.\"}]}"
  obs "completion_tokens $(j '.usage.completion_tokens'), finish_reason $(j '.choices[0].finish_reason')"
  verdict
  sec "chat.completions · max_completion_tokens" "max_completion_tokens 3: completion_tokens ≤ 3, finish_reason length."
  req POST $C "{$M,\"max_completion_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about the sea.\"}]}"
  obs "completion_tokens $(j '.usage.completion_tokens'), finish_reason $(j '.choices[0].finish_reason')"
  verdict

  # ---------------- stop
  sec "chat.completions · stop" "Counting prompt: the control must reach \" 8\"; then stop [\" 8\"]: \" 8\" must not appear, the answer must end right before it (\"…, 7,\"), finish_reason stop."
  local COUNT="\"messages\":[{\"role\":\"user\",\"content\":\"Count from 1 to 20, separated by commas.\"}]"
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":60,$COUNT}"
  obs "control content $(j '.choices[0].message.content|tojson'), contains \" 8\": $(j '.choices[0].message.content|contains(" 8")'), finish_reason $(j '.choices[0].finish_reason')"
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":60,\"stop\":[\" 8\"],$COUNT}"
  obs "with stop: content $(j '.choices[0].message.content|tojson'), contains \" 8\": $(j '.choices[0].message.content|contains(" 8")'), contains \"7\": $(j '.choices[0].message.content|contains("7")'), finish_reason $(j '.choices[0].finish_reason')"
  verdict

  # ---------------- sampling
  local SAMP="\"max_tokens\":12,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}]"
  sec "chat.completions · temperature" "temperature 1.5 over five seeds (max_tokens 12) against temperature 0 over the same five seeds."
  sample "temperature 1.5" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"seed\":@SEED@,$SAMP}" 1 2 3 4 5
  local HOT=$DISTINCT
  sample "temperature 0" $C '.choices[0].message.content' "{$M,\"temperature\":0,\"seed\":@SEED@,$SAMP}" 1 2 3 4 5
  obs "distinct answers: $HOT at 1.5, $DISTINCT at 0"
  verdict
  sec "chat.completions · seed" "The same seed twice at temperature 1.5 (two seeds, each twice): same answer each time?"
  sample "seed 7 twice" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"seed\":@SEED@,$SAMP}" 7 7
  local S7=$DISTINCT
  sample "seed 8 twice" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"seed\":@SEED@,$SAMP}" 8 8
  obs "distinct per pair: seed 7 → $S7, seed 8 → $DISTINCT (1 = repeatable)"
  verdict
  sec "chat.completions · top_p" "top_p 0.001 at temperature 1.5 over five seeds: the nucleus is one token, so the distinct count should fall to 1 (the control at 1.5 is in the temperature section: $HOT distinct)."
  sample "top_p 0.001, temperature 1.5" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"top_p\":0.001,\"seed\":@SEED@,$SAMP}" 1 2 3 4 5
  verdict
  sec "chat.completions · top_k" "top_k 1 at temperature 1.5 over five seeds (non-OpenAI parameter): distinct should fall to 1 (control: $HOT)."
  sample "top_k 1, temperature 1.5" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"top_k\":1,\"seed\":@SEED@,$SAMP}" 1 2 3 4 5
  verdict
  sec "chat.completions · min_p" "min_p 1 at temperature 1.5 over five seeds (non-OpenAI parameter): only the top token survives, distinct should fall to 1 (control: $HOT)."
  sample "min_p 1, temperature 1.5" $C '.choices[0].message.content' "{$M,\"temperature\":1.5,\"min_p\":1,\"seed\":@SEED@,$SAMP}" 1 2 3 4 5
  verdict
  sec "chat.completions · n" "n 3 at temperature 1: three choices with indexes 0, 1, 2?"
  req POST $C "{$M,\"n\":3,\"temperature\":1,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}]}"
  obs "choices: $(j '.choices|length'), indexes $(j '[.choices[].index]|tojson')"
  verdict

  # ---------------- penalties
  local REP="\"temperature\":0,\"max_tokens\":24,\"messages\":[{\"role\":\"user\",\"content\":\"Repeat the following exactly: the cat the cat the cat the cat the cat the cat\"}]"
  local CATS='[.choices[0].message.content|scan("(?i)cat")]|length'
  sec "chat.completions · presence_penalty / frequency_penalty" "A repetition prompt: the control repeats \"cat\"; presence_penalty 2 and frequency_penalty 2 must cut the count of \"cat\" in the one answer."
  req POST $C "{$M,$REP}"
  local CTRL; CTRL="$(j "$CATS")"
  obs "control: $CTRL × cat in $(j '.choices[0].message.content|tojson')"
  req POST $C "{$M,\"presence_penalty\":2,$REP}"
  obs "presence_penalty 2: $(j "$CATS") × cat in $(j '.choices[0].message.content|tojson')"
  req POST $C "{$M,\"frequency_penalty\":2,$REP}"
  obs "frequency_penalty 2: $(j "$CATS") × cat in $(j '.choices[0].message.content|tojson')"
  verdict
  sec "chat.completions · repetition_penalty" "repetition_penalty 2 (vLLM's / HF's name; llama.cpp calls it repeat_penalty) on the same prompt (control: $CTRL × cat)."
  req POST $C "{$M,\"repetition_penalty\":2,$REP}"
  obs "repetition_penalty 2: $(j "$CATS") × cat in $(j '.choices[0].message.content|tojson')"
  req POST $C "{$M,\"repeat_penalty\":2,$REP}"
  obs "repeat_penalty 2: $(j "$CATS") × cat in $(j '.choices[0].message.content|tojson')"
  verdict

  # ---------------- logit_bias
  sec "chat.completions · logit_bias" "The control answer to \"Describe the sea.\" starts with $(printf %q "${CONTROL_SEA%% *}"); a bias of -100 on that word's first token (with and without a leading space, ids from the model's tokenizer.json) must remove it; +100 on \" banana\" must force it."
  local W="${CONTROL_SEA%% *}"; local ids; ids=($(token_ids "$W" " $W")); local ban; ban="$(token_ids " banana")"
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":8,\"logit_bias\":{\"${ids[0]}\":-100,\"${ids[1]}\":-100},\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "banned: content $(j '.choices[0].message.content|tojson'), starts with \"$W\": $(j --arg w "$W" '.choices[0].message.content|ltrimstr(" ")|startswith($w)')"
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":6,\"logit_bias\":{\"$ban\":100},\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "forced: $(j '[.choices[0].message.content|scan("banana")]|length') × banana in $(j '.choices[0].message.content|tojson')"
  verdict

  # ---------------- logprobs
  sec "chat.completions · logprobs / top_logprobs" "logprobs true, top_logprobs 3, max_tokens 5: one logprobs.content entry per token, each with 3 top_logprobs, the chosen token's logprob ≤ 0."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":5,\"logprobs\":true,\"top_logprobs\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "completion_tokens $(j '.usage.completion_tokens'); logprobs.content entries $(j '.choices[0].logprobs.content|length'); top_logprobs per entry $(j '[.choices[0].logprobs.content[].top_logprobs|length]|tojson'); tokens $(j '[.choices[0].logprobs.content[].token]|tojson'); logprobs $(j '[.choices[0].logprobs.content[].logprob]|tojson')"
  verdict

  # ---------------- response_format
  sec "chat.completions · response_format json_object" "json_object mode (max_tokens 80, a short object asked for): the content must parse as a JSON object."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":80,\"response_format\":{\"type\":\"json_object\"},\"messages\":[{\"role\":\"user\",\"content\":\"Return a JSON object with two keys, name and color, for a cat.\"}]}"
  obs "content parses as a JSON object: $(j '(.choices[0].message.content|fromjson|type=="object")? // false'); finish_reason $(j '.choices[0].finish_reason')"
  verdict
  sec "chat.completions · response_format json_schema" "json_schema (strict) {name: string, age: integer}, both required, no others: the content must parse and match."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":40,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}}},\"messages\":[{\"role\":\"user\",\"content\":\"Describe a person.\"}]}"
  obs "content matches (object with exactly name:string and age:integer): $(j '(.choices[0].message.content|fromjson|(type=="object" and (keys==["age","name"]) and (.name|type=="string") and (.age|type=="number")))? // false')"
  verdict

  # ---------------- tools
  local TOOLS="\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Get the weather in a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]"
  local WX="\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in Paris?\"}]"
  sec "chat.completions · tool_choice" "tools [get_weather] with tool_choice \"required\" and with the named function: message.tool_calls[0] must call get_weather with JSON arguments, finish_reason tool_calls."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":40,$TOOLS,\"tool_choice\":\"required\",$WX}"
  obs "required: tool_calls $(j '.choices[0].message.tool_calls|tojson'), finish_reason $(j '.choices[0].finish_reason'), arguments parse: $(j '(.choices[0].message.tool_calls[0].function.arguments|fromjson|type=="object")? // false')"
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":40,$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},$WX}"
  obs "named: tool_calls $(j '.choices[0].message.tool_calls|tojson'), finish_reason $(j '.choices[0].finish_reason'), arguments parse: $(j '(.choices[0].message.tool_calls[0].function.arguments|fromjson|type=="object")? // false')"
  verdict
  sec "chat.completions · tools (auto)" "tools with tool_choice auto (the default): either content or a well-formed tool call."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":40,$TOOLS,$WX}"
  obs "tool_calls $(j '.choices[0].message.tool_calls|tojson'), content $(j '.choices[0].message.content|tojson'), finish_reason $(j '.choices[0].finish_reason')"
  verdict

  # ---------------- user
  sec "chat.completions · user" "user \"hand-check\": accepted (OpenAI uses it only for abuse monitoring, so acceptance is the whole behaviour)."
  req POST $C "{$M,\"temperature\":0,\"max_tokens\":4,\"user\":\"hand-check\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
  verdict

  # ---------------- streaming
  sec "chat.completions · stream" "stream true: text/event-stream, data: lines of chat.completion.chunk, finish_reason null until the last choice chunk, then set, and data: [DONE] at the end."
  stream $C "{$M,\"stream\":true,\"temperature\":0,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "chunks $(chunks | wc -l); objects $(chunks | jq -r .object | sort -u | tr '\n' ' '); finish_reasons per chunk $(chunks | jq -c '[.choices[]?.finish_reason]' | tr '\n' ' '); ends with [DONE]: $(grep -v '^\s*$' "$EV/stream.txt" | tail -1 | tr -d '\r' | grep -qx 'data: \[DONE\]' && echo yes || echo no); text $(chunks | jq -j '.choices[]?.delta.content // ""' | jq -Rs .)"
  verdict
  sec "chat.completions · stream_options.include_usage" "stream_options {include_usage: true}: one extra last chunk with choices [] and the usage (the others usage null)."
  stream $C "{$M,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
  obs "last chunk: choices $(chunks | tail -1 | jq -c '.choices'), usage $(chunks | tail -1 | jq -c '.usage'); chunks with a usage: $(chunks | jq -c 'select(.usage != null)' | wc -l)"
  verdict

  # ---------------- errors
  sec "chat.completions · errors.missing_field" "No messages: OpenAI answers 400 with {error: {message, type, param: messages, code}}."
  req POST $C "{$M,\"max_tokens\":4}"
  verdict
  sec "chat.completions · errors.malformed_json" "A truncated JSON body: OpenAI answers 400. Then, on the same keep-alive connection (curl --next), a request without messages: is the connection still usable (num_connects 0 = reused), and what does it get?"
  out '```'; out "curl -s -D - \$BASE$C -H 'Content-Type: application/json' -d '{\"model\": ' --next -s -D - \$BASE$C -H 'Content-Type: application/json' -d '{$M,\"max_tokens\":4}'"; out '```'
  local both; both="$(curl -s -m 120 -D - -w '\n[transfer 1: HTTP %{http_code}, new connections %{num_connects}]\n' -H 'Content-Type: application/json' --data-raw '{"model": ' "$BASE$C" \
      --next -s -m 120 -D - -w '\n[transfer 2: HTTP %{http_code}, new connections %{num_connects}]\n' -H 'Content-Type: application/json' --data-raw "{$M,\"max_tokens\":4}" "$BASE$C" 2>&1 || true)"
  out '```'; printf '%s\n' "$both" | tr -d '\r' | grep -iv '^\(date\|x-\|server\):' | cut -c1-400 >>"$CUR" || true; out '```'
  verdict
  sec "chat.completions · errors.unknown_model" "model no-such-model: OpenAI answers 404 model_not_found."
  req POST $C "{\"model\":\"no-such-model\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
  verdict
  sec "chat.completions · errors.out_of_range" "temperature 5 (OpenAI's range is 0–2): 400."
  req POST $C "{$M,\"temperature\":5,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
  verdict
  sec "chat.completions · errors.wrong_type" "messages as a string: 400 naming messages."
  req POST $C "{$M,\"messages\":\"Hi\"}"
  verdict

  # ---------------- completions
  local P=/completions
  local NUM="\"prompt\":\"1, 2, 3, 4, 5,\""
  sec "completions · prompt" "A completions prompt \"1, 2, 3, 4, 5,\" at temperature 0, max_tokens 12: text_completion with choices[].text, finish_reason, logprobs (required, nullable); usage."
  req POST $P "{$M,$NUM,\"temperature\":0,\"max_tokens\":12}"
  obs "text $(j '.choices[0].text|tojson'); object $(j .object); choice keys $(j '.choices[0]|keys|join(",")'); usage $(j '.usage|tojson')"
  verdict
  sec "completions · stop" "stop [\" 8\"] on the counting prompt (control above reaches \" 8\"): \" 8\" absent, finish_reason stop."
  req POST $P "{$M,$NUM,\"temperature\":0,\"max_tokens\":12,\"stop\":[\" 8\"]}"
  obs "text $(j '.choices[0].text|tojson'), contains \" 8\": $(j '.choices[0].text|contains(" 8")'), finish_reason $(j '.choices[0].finish_reason')"
  verdict
  sec "completions · max_tokens" "max_tokens 3: completion_tokens ≤ 3, finish_reason length."
  req POST $P "{$M,$NUM,\"max_tokens\":3}"
  obs "completion_tokens $(j '.usage.completion_tokens'), finish_reason $(j '.choices[0].finish_reason')"
  verdict
  sec "completions · n" "n 2 at temperature 1: two choices?"
  req POST $P "{$M,\"prompt\":\"Once upon a time\",\"n\":2,\"temperature\":1,\"max_tokens\":6}"
  obs "choices $(j '.choices|length'), indexes $(j '[.choices[].index]|tojson')"
  verdict
  sec "completions · echo" "echo true: the text starts with the prompt."
  req POST $P "{$M,$NUM,\"echo\":true,\"temperature\":0,\"max_tokens\":4}"
  obs "text $(j '.choices[0].text|tojson'), starts with the prompt: $(j '.choices[0].text|startswith("1, 2, 3, 4, 5,")')"
  verdict
  sec "completions · logprobs" "logprobs 2, max_tokens 4: logprobs.tokens / token_logprobs / top_logprobs (2 entries each) / text_offset, one per token."
  req POST $P "{$M,$NUM,\"logprobs\":2,\"temperature\":0,\"max_tokens\":4}"
  obs "logprobs keys $(j '.choices[0].logprobs|keys? // [] |join(",")'); tokens $(j '.choices[0].logprobs.tokens|tojson'); token_logprobs $(j '.choices[0].logprobs.token_logprobs|tojson'); top_logprobs sizes $(j '[.choices[0].logprobs.top_logprobs[]|length]|tojson'); text_offset $(j '.choices[0].logprobs.text_offset|tojson')"
  verdict
  sec "completions · suffix" "suffix (fill-in-the-middle; the bundled model has no FIM tokens): OpenAI's legacy models accept it; a server without FIM should refuse it with a 400 rather than ignore it."
  req POST $P "{$M,\"prompt\":\"def add(a, b):\",\"suffix\":\"    return c\",\"temperature\":0,\"max_tokens\":8}"
  obs "text $(j '.choices[0].text|tojson')"
  verdict
  sec "completions · best_of" "best_of 3 with n 1 at temperature 1: one choice back (the best of three)?"
  req POST $P "{$M,\"prompt\":\"Once upon a time\",\"best_of\":3,\"temperature\":1,\"max_tokens\":6}"
  obs "choices $(j '.choices|length'); usage.completion_tokens $(j '.usage.completion_tokens') (OpenAI bills every candidate: 3 × 6 = 18 when all three run to the limit)"
  verdict
  sec "completions · errors.best_of" "best_of 1 < n 2, and best_of 2 with stream: OpenAI answers 400 to both."
  req POST $P "{$M,\"prompt\":\"Hi\",\"n\":2,\"best_of\":1,\"max_tokens\":4}"
  obs "choices $(j '.choices|length')"
  req POST $P "{$M,\"prompt\":\"Hi\",\"best_of\":2,\"stream\":true,\"max_tokens\":4}"
  verdict
  sec "completions · stream" "stream true: data: lines of text_completion chunks, finish_reason on the last, data: [DONE]."
  stream $P "{$M,$NUM,\"stream\":true,\"temperature\":0,\"max_tokens\":8}"
  obs "chunks $(chunks | wc -l); finish_reasons $(chunks | jq -c '[.choices[]?.finish_reason]' | tr '\n' ' '); ends with [DONE]: $(grep -v '^\s*$' "$EV/stream.txt" | tail -1 | tr -d '\r' | grep -qx 'data: \[DONE\]' && echo yes || echo no); text $(chunks | jq -j '.choices[]?.text // ""' | jq -Rs .)"
  verdict
  sec "completions · stream_options.include_usage" "stream_options {include_usage: true}: a last chunk with choices [] and the usage."
  stream $P "{$M,$NUM,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0,\"max_tokens\":8}"
  obs "last chunk: choices $(chunks | tail -1 | jq -c '.choices'), usage $(chunks | tail -1 | jq -c '.usage'); chunks with a usage: $(chunks | jq -c 'select(.usage != null)' | wc -l)"
  verdict
  sec "completions · errors.missing_field" "No prompt: OpenAI answers 400 (prompt is required)."
  req POST $P "{$M,\"max_tokens\":4}"
  verdict

  # ---------------- embeddings
  local E=/embeddings
  sec "embeddings · input" "One string: object list, data[0] {object: embedding, index 0, embedding: [floats]}, model, usage {prompt_tokens, total_tokens}."
  TRIM=300 req POST $E "{$M,\"input\":\"The quick brown fox\"}"
  obs "data items $(j '.data|length'); data[0] keys $(j '.data[0]|keys|join(",")'); length $(j '.data[0].embedding|length'); element type $(j '.data[0].embedding[0]|type'); inner lengths (when nested) $(j '[.data[0].embedding[]|select(type=="array")|length]|tojson'); usage $(j '.usage|tojson'); norm² $(j '[.data[0].embedding[]|.*.]|add')"
  DIM="$(j '.data[0].embedding|length')"
  verdict
  sec "embeddings · input.list" "Two strings: two embeddings, indexes 0 and 1."
  TRIM=200 req POST $E "{$M,\"input\":[\"cat\",\"dog\"]}"
  obs "items $(j '.data|length'), indexes $(j '[.data[].index]|tojson'), lengths $(j '[.data[].embedding|length]|tojson')"
  verdict
  sec "embeddings · dimensions" "dimensions 64: each embedding has 64 numbers (OpenAI's text-embedding-3 shortens), or a 400 if the model cannot."
  TRIM=200 req POST $E "{$M,\"input\":\"The quick brown fox\",\"dimensions\":64}"
  obs "length $(j '.data[0].embedding|length') (full: $DIM)"
  verdict
  sec "embeddings · encoding_format" "encoding_format base64: embedding is a base64 string of little-endian float32, 4 × dimension bytes."
  TRIM=200 req POST $E "{$M,\"input\":\"The quick brown fox\",\"encoding_format\":\"base64\"}"
  obs "embedding type $(j '.data[0].embedding|type'); decoded bytes $(j '.data[0].embedding|select(type=="string")' | base64 -d 2>/dev/null | wc -c) (4 × $DIM = $((4 * ${DIM:-0})))"
  verdict
  sec "embeddings · errors.invalid_value" "encoding_format \"hex\": OpenAI answers 400."
  TRIM=200 req POST $E "{$M,\"input\":\"fox\",\"encoding_format\":\"hex\"}"
  verdict

  # ---------------- responses
  sec "responses · input" "POST /responses without stream: is the Responses API served at all? (one JSON object response, output[] with an output_text)."
  req POST /responses "{$M,\"input\":\"Describe the sea.\",\"max_output_tokens\":16,\"temperature\":0}"
  obs "object $(j .object), status $(j .status), output types $(j '[.output[]?.type]|tojson'), text $(j '[.output[]?.content[]?|select(.type=="output_text").text]|join("")|tojson'), usage $(j '.usage|tojson')"
  RESP_ID="$(printf '%s' "$B" | grep -o '"id": *"resp_[A-Za-z0-9_-]*"' | head -1 | sed 's/.*"\(resp_[^"]*\)"/\1/' || true)"
  verdict
  sec "responses · max_output_tokens" "max_output_tokens 16 (the minimum OpenAI accepts) on a long story: output_tokens ≤ 16, status incomplete with reason max_output_tokens."
  req POST /responses "{$M,\"input\":\"Write a long story about the sea.\",\"max_output_tokens\":16}"
  obs "status $(j .status), incomplete_details $(j '.incomplete_details|tojson'), output_tokens $(j '.usage.output_tokens')"
  verdict
  sec "responses · stream" "stream true: typed SSE events (response.created … response.output_text.delta … response.completed)."
  stream /responses "{$M,\"input\":\"Describe the sea.\",\"max_output_tokens\":16,\"temperature\":0,\"stream\":true}"
  obs "event: lines $(grep -c '^event:' "$EV/stream.txt" || true); data types $(chunks | jq -r '.type // "?"' 2>/dev/null | uniq -c | awk '{printf "%s×%s ", $2, $1}'); ends with [DONE]: $(grep -v '^\s*$' "$EV/stream.txt" | tail -1 | tr -d '\r' | grep -qx 'data: \[DONE\]' && echo yes || echo no)"
  verdict
  sec "responses · store" "GET /responses/{id} of the response created above (store defaults to true)."
  req GET "/responses/${RESP_ID:-none}"
  verdict

  # ---------------- concurrency
  sec "concurrency · stream + 3 requests" "Four requests at once: a chat stream (max_tokens 200) and, as soon as it has sent 3 data lines, three plain chat requests (max_tokens 8) on their own connections. Does the stream still finish (finish_reason, [DONE], curl exit 0)? Do the three get 200?"
  local log="$EV/conc"; mkdir -p "$log"
  out '```'; out "curl -sN \$BASE$C -d '{$M,\"stream\":true,\"temperature\":0,\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about the sea.\"}]}' &"
  out "# once it has 3 data lines, three of these at once:"; out "curl -s \$BASE$C -d '{$M,\"temperature\":0,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello number I.\"}]}' &"; out '```'
  ( rc=0; curl -sN -m 300 -H 'Content-Type: application/json' "$BASE$C" \
      -d "{$M,\"stream\":true,\"temperature\":0,\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about the sea.\"}]}" >"$log/stream" || rc=$?; echo "$rc" >"$log/stream.rc" ) &
  local sp=$! i pids=() t
  for t in $(seq 1 600); do [ "$(grep -c '^data:' "$log/stream" 2>/dev/null || true)" -ge 3 ] && break; [ -f "$log/stream.rc" ] && break; sleep 0.05; done
  local open=no; [ -f "$log/stream.rc" ] || open=yes
  local before; before="$(grep -c '^data:' "$log/stream" || true)"
  for i in 1 2 3; do
    ( curl -s -m 300 -o "$log/r$i" -w '%{http_code} %{time_total}s' -H 'Content-Type: application/json' "$BASE$C" \
        -d "{$M,\"temperature\":0,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello number $i.\"}]}" >"$log/r$i.s" 2>/dev/null || echo " curl failed $?" >>"$log/r$i.s" ) &
    pids+=($!)
  done
  wait "$sp" "${pids[@]}"  # only these: the servers are children of this shell too
  out "stream open when the three were sent: $open ($before data lines by then)"
  out ""
  out "stream: $(grep -c '^data:' "$log/stream" || true) data lines, curl exit $(cat "$log/stream.rc") (18 = the server closed the body early), finish_reason $(grep '^data: {' "$log/stream" | sed 's/^data: //' | jq -r '.choices[]?.finish_reason // empty' 2>/dev/null | tr '\n' ' '), last line \`$(grep -v '^\s*$' "$log/stream" | tail -1 | tr -d '\r' | cut -c1-200)\`, text $(grep '^data: {' "$log/stream" | sed 's/^data: //' | jq -j '.choices[]?.delta.content // ""' 2>/dev/null | jq -Rs . | cut -c1-300)"
  for i in 1 2 3; do out "- request $i: HTTP $(cat "$log/r$i.s"), content $(jq -c '.choices[0].message.content' "$log/r$i" 2>/dev/null | cut -c1-120 || head -c 200 "$log/r$i")"; done
  verdict
}

# The peer's own run script, with its run_suite call replaced by hand_checks.
SCRIPT="$(sed -e 's|^source "$(dirname "$0")/lib.sh"|source "'"$HERE"'/../lib.sh"|' -e 's|^run_suite |hand_checks |' "$RUN")"
grep -q '^hand_checks ' <<<"$SCRIPT" || { echo "run-$PEER.sh has no run_suite line to replace" >&2; exit 2; }
set -- # the run script's "$@" (extra suite arguments) is empty here
eval "$SCRIPT"
render
