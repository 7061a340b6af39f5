"""One YAML loader for the whole harness: safe, and libyaml's C parser when PyYAML has it.

The pure-Python parser spends seconds on the suite's case files, and every run (and every pytest
item of the mutation tests) loads them; the C one does the same in a tenth of the time.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    return yaml.load(stream, Loader=_LOADER)
