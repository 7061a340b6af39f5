"""The per-endpoint feature summary ("chat ✅, streaming ✅, tools ⚠️, vision not measured") from matrix cells.

Users compare servers by these checkbox lists before they read a parameter table, so the report gives
them, but each box is derived from measured cells (rows named in specs/features.yaml), never declared.

Only the behaviour axis counts: a server that streams correctly with a schema nit in its chunks is a
streaming server (the nit shows on the wire axis of its cells). Untested and inconclusive cells are no
evidence either way, so they count as not measured rather than as not working.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from conformance import yamlfile
from conformance.errors import UsageError
from conformance.paths import specs_dir
from conformance.results import Cell, CellState


class FeatureState(StrEnum):
    SUPPORTED = "supported"  # every measured row it names is supported
    PARTIAL = "partial"  # some are, some are not
    UNSUPPORTED = "unsupported"  # rows were measured and none is supported
    NOT_MEASURED = "not measured"  # no case measured any of its rows (all untested or inconclusive)


FEATURE_SYMBOL = {
    FeatureState.SUPPORTED: "✅",
    FeatureState.PARTIAL: "⚠️",
    FeatureState.UNSUPPORTED: "❌",
    FeatureState.NOT_MEASURED: "–",
}


_NO_EVIDENCE = {CellState.UNTESTED, CellState.INCONCLUSIVE}


class _FeatureFile(BaseModel):
    features: dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class Feature:
    endpoint: str
    name: str
    rows: tuple[str, ...]  # glob patterns over parameter names


@dataclass(frozen=True)
class FeatureStatus:
    feature: Feature
    state: FeatureState
    supported: int  # patterns of `rows` whose measured cells are all supported
    total: int  # patterns in `rows`

    @property
    def label(self) -> str:
        counts = f" ({self.supported}/{self.total} row groups)" if self.state is FeatureState.PARTIAL else ""
        return f"{FEATURE_SYMBOL[self.state]} {self.state.value}{counts}"


def default_features_path() -> Path:
    return specs_dir() / "features.yaml"


def load_features(path: Path | None = None) -> list[Feature]:
    path = path or default_features_path()
    try:
        data = _FeatureFile.model_validate(yamlfile.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the feature list ({exc})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return [
        Feature(endpoint, name, tuple(rows))
        for endpoint, features in data.features.items()
        for name, rows in features.items()
    ]


def summarise(features: Sequence[Feature], cells: Sequence[Cell], endpoint: str) -> list[FeatureStatus]:
    """The status of each of `endpoint`'s features from the cells of one run.

    Counted per pattern in the feature's `rows`: a pattern is supported when it matched measured cells
    and all of them are supported. A pattern no case measured keeps the feature from being fully
    supported, so a server never gets a box ticked for what was not tried.
    """
    measured = [c for c in cells if c.endpoint == endpoint and c.state not in _NO_EVIDENCE]
    out = []
    for feature in (f for f in features if f.endpoint == endpoint):
        supported = tried = 0
        for pattern in feature.rows:
            hits = [c for c in measured if fnmatch.fnmatchcase(c.parameter, pattern)]
            tried += bool(hits)
            supported += bool(hits) and all(c.state is CellState.SUPPORTED for c in hits)
        if not tried:
            state = FeatureState.NOT_MEASURED
        elif supported == len(feature.rows):
            state = FeatureState.SUPPORTED
        elif supported:
            state = FeatureState.PARTIAL
        else:
            state = FeatureState.UNSUPPORTED
        out.append(FeatureStatus(feature, state, supported, len(feature.rows)))
    return out
