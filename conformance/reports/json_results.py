"""The json format: results.json itself, the versioned file that `report`, merges and diffs read back.

Several runs render as a JSON array of results documents, one per run, in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.results import RunResults


def render(runs: Sequence[RunResults]) -> str:
    if len(runs) == 1:
        return runs[0].model_dump_json(indent=2) + "\n"
    return "[\n" + ",\n".join(run.model_dump_json(indent=2) for run in runs) + "\n]\n"
