# Re-check requests for transformers-serve (sourced by recheck.sh, which defines r, s, $M, $C).
r "responses: create without stream (what comes back, and as what)" POST /responses "{$M,\"input\":\"Hi\",\"max_output_tokens\":16,\"temperature\":0}"
r "chat: no messages" POST $C "{$M}"
r "chat: messages a string" POST $C "{$M,\"messages\":\"Hi\"}"
r "chat: unknown model" POST $C "{\"model\":\"no-such-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
r "chat: stop [\" 8\"] on the counting prompt" POST $C "{$M,\"temperature\":0,\"max_tokens\":60,\"stop\":[\" 8\"],\"messages\":[{\"role\":\"user\",\"content\":\"Count from 1 to 20, separated by commas.\"}]}" '{content: .choices[0].message.content, finish_reason: .choices[0].finish_reason}'
r "chat: logit_bias" POST $C "{$M,\"temperature\":0,\"max_tokens\":6,\"logit_bias\":{\"1030\":100},\"messages\":[{\"role\":\"user\",\"content\":\"Describe the sea.\"}]}"
r "chat: n 3" POST $C "{$M,\"n\":3,\"temperature\":1,\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}]}" '{choices: (.choices|length)}'
r "chat: top_k (non-OpenAI)" POST $C "{$M,\"top_k\":1,\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
r "completions: no prompt" POST /completions "{$M}"
r "models: retrieve the served model" GET "/models/$MODEL"
r "completions: a plain prompt (is choices[].logprobs there?)" POST /completions "{$M,\"prompt\":\"1, 2, 3,\",\"max_tokens\":3,\"temperature\":0}" '{choice_keys: (.choices[0]|keys)}'
r "models: list (created's type)" GET /models '' '[.data[] | {id, created, created_type: (.created|type)}]'
{
  echo "## responses: the openai SDK's responses.create() on this server (non-stream)"; echo
  echo '```'
  "$HERE/../../../.venv/bin/python" - "$BASE" "$MODEL" <<'PY' 2>&1 | cut -c1-600
import sys, openai
c = openai.OpenAI(base_url=sys.argv[1], api_key="x")
try:
    r = c.responses.create(model=sys.argv[2], input="Hi", max_output_tokens=16, temperature=0)
    print("responses.create returned", type(r).__name__, repr(r)[:300])
    print("r.output_text ->", r.output_text)
except Exception as e:
    print("raised", type(e).__name__, str(e)[:300])
PY
  echo '```'; echo
} >>"$OUT"
