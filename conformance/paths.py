"""Where the suite's data lives: the vendored OpenAPI spec and the YAML cases.

The data sits in the repository's `specs/` directory, next to the `conformance` package, so an
editable install (the project's set-up) finds it through the package's own location. A wheel or a
relocated copy can point at any other checkout with the CONFORMANCE_SPECS_DIR environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

SPECS_ENV = "CONFORMANCE_SPECS_DIR"


def specs_dir() -> Path:
    override = os.environ.get(SPECS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "specs"


def default_cases_dir() -> Path:
    return specs_dir() / "cases"


def default_spec_path() -> Path:
    # The subset holds every path we test and parses in a tenth of the time of the full 3 MB file.
    return specs_dir() / "openai-openapi-subset.yaml"
