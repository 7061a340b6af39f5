"""Lay the bundled GGUF out as a transformers checkpoint in a private Hugging Face cache, so that
`transformers serve` finds it offline the way it finds a model a user downloaded (`hf download`):
HF_HUB_CACHE/models--<repo>/{refs/main, snapshots/<rev>/...}. transformers' own GGUF loader does the
conversion (weights dequantized to float32, config and tokenizer read out of the file); the GGUF
quantization marker is dropped so the saved checkpoint loads as a plain one.

usage: python gguf-to-hf-cache.py GGUF HF_HUB_CACHE REPO_ID
"""

import hashlib
import pathlib
import sys

from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, cache, repo_id = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
repo = cache / ("models--" + repo_id.replace("/", "--"))
rev = hashlib.sha1(gguf.read_bytes()).hexdigest()  # the "commit": the GGUF's own digest
snap = repo / "snapshots" / rev
if (snap / "config.json").exists():
    print(f"{snap} already there")
    sys.exit(0)
tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
# The loader marks the model as GGUF-quantized (hf_quantizer, config.quantization_config), although
# its weights are plain float tensors by now; save_pretrained refuses such a model.
model.hf_quantizer = None
for marker in ("quantization_config", "_pre_quantization_dtype"):
    if hasattr(model.config, marker):
        delattr(model.config, marker)
model.config._name_or_path = repo_id
snap.mkdir(parents=True, exist_ok=True)
model.save_pretrained(snap)
tokenizer.save_pretrained(snap)
(repo / "refs").mkdir(exist_ok=True)
(repo / "refs" / "main").write_text(rev)
print(f"wrote {snap}")
