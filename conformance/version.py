"""The harness's own version, as recorded in every results.json and printed by `--version`.

One definition: the CLI and the library used to fall back to different strings when the package
was not installed (a source checkout), so the same run could name two versions.
"""

from __future__ import annotations

from importlib import metadata

UNKNOWN = "0+unknown"  # a valid version (PEP 440 local part), so tools that parse it do not break


def tool_version() -> str:
    try:
        return metadata.version("openai-conformance")
    except metadata.PackageNotFoundError:
        return UNKNOWN
