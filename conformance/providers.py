"""Provider profiles (specs/providers/*.yaml): where a provider lives and what its docs claim.

A profile gives `conformance run --provider NAME` its defaults (base URL, which environment variable
holds the key) and, more importantly, the provider's own documented claims per matrix row, each
traceable to a dated source. The reports then set claims against measurement: "claimed but failing"
and "working but undocumented" are what a provider's users and its docs team act on.

Claims are only what a source says. A row a profile does not mention is undocumented; `unknown`
records that we looked and found no clear statement. Nothing here is measured.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from conformance import yamlfile
from conformance.errors import UsageError
from conformance.paths import specs_dir

# Imports nothing of the results: a run's results carry the profile it was made with
# (RunResults.provider_profile), so merged reports need no profile files.
KNOWN_ENDPOINTS = ("models", "chat.completions", "completions", "embeddings", "responses")


class Claim(StrEnum):
    SUPPORTED = "supported"  # the docs say it works
    UNSUPPORTED = "unsupported"  # the docs say it is not supported (refused or not implemented)
    IGNORED = "ignored"  # the docs say it is accepted and ignored
    PARTIAL = "partial"  # the docs say it works with stated limits (see the note)
    UNKNOWN = "unknown"  # we looked; the docs do not say clearly


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    title: str
    url: str
    date: str  # the page's own date if it shows one, else "accessed YYYY-MM-DD"


class Auth(_Strict):
    style: Literal["bearer", "none"]  # the harness sends `Authorization: Bearer <key>` or nothing
    required: bool = False
    env: str | None = None  # the variable that conventionally holds the key, e.g. GROQ_API_KEY


class ClaimDetail(_Strict):
    claim: Claim
    note: str = ""
    source: int = 0  # index into the profile's sources


class Profile(_Strict):
    name: str
    title: str
    kind: Literal["local", "proxy", "hosted"]
    base_url: str | None = None  # None: no fixed default (self-hosted, user-chosen host)
    auth: Auth
    model_naming: str
    example_model: str | None = None
    notes: str = ""
    sources: list[Source] = Field(min_length=1)
    endpoints: dict[str, Claim] = Field(default_factory=dict)
    claims: dict[str, dict[str, Claim | ClaimDetail]] = Field(default_factory=dict)

    @field_validator("endpoints", "claims")
    @classmethod
    def _known_endpoints(cls, value: dict[str, Any]) -> dict[str, Any]:
        for endpoint in value:
            if endpoint not in KNOWN_ENDPOINTS:
                raise ValueError(f"unknown endpoint {endpoint!r} (known: {', '.join(KNOWN_ENDPOINTS)})")
        return value

    def model_post_init(self, __context: Any) -> None:
        for endpoint, params in self.claims.items():
            for parameter, detail in params.items():
                if isinstance(detail, ClaimDetail) and not 0 <= detail.source < len(self.sources):
                    raise ValueError(f"claims.{endpoint}.{parameter}.source: no source #{detail.source}")

    def claim(self, endpoint: str, parameter: str) -> ClaimDetail | None:
        """The documented claim for a matrix row, or None when the docs do not mention it."""
        found = self.claims.get(endpoint, {}).get(parameter)
        if found is None:
            return None
        return found if isinstance(found, ClaimDetail) else ClaimDetail(claim=found)

    def rows(self) -> list[tuple[str, str, ClaimDetail]]:
        return [
            (endpoint, parameter, detail)
            for endpoint in self.claims
            for parameter in self.claims[endpoint]
            if (detail := self.claim(endpoint, parameter)) is not None
        ]


def providers_dir() -> Path:
    return specs_dir() / "providers"


def load_profile(path: Path) -> Profile:
    """One profile file, validated; any problem is a one-line UsageError naming the file and field."""
    try:
        data = yamlfile.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such provider profile") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a readable YAML profile ({first})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a provider profile must be a mapping")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "profile"
        raise UsageError(f"{path}: {where}: {first['msg']}") from None
    if path.suffix == ".yaml" and path.parent.name == "providers" and profile.name != path.stem:
        raise UsageError(f"{path}: name {profile.name!r} differs from the file name {path.stem!r}")
    return profile


def load_profiles(directory: Path | None = None) -> list[Profile]:
    directory = directory or providers_dir()
    return [load_profile(p) for p in sorted(directory.glob("*.yaml"))]


def find_profile(name: str, directory: Path | None = None) -> Profile | None:
    """The profile `name` refers to (a profile name or a .yaml path), or None for a plain report name."""
    if name.endswith((".yaml", ".yml")):
        return load_profile(Path(name))
    path = (directory or providers_dir()) / f"{name}.yaml"
    return load_profile(path) if path.is_file() else None
