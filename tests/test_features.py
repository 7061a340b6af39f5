"""The feature summary: each box is derived from measured cells, and flips when a cell does."""

from __future__ import annotations

import fnmatch

import pytest
from test_reports_sample import sample_results

from conformance import features
from conformance.api import list_cases
from conformance.reports import html, markdown
from conformance.results import Cell, CellState, WireState

# Features the list names before any case measures them: shown as "not measured", never as supported.
NOT_YET_MEASURED: set[tuple[str, str]] = set()


def _cell(
    parameter: str, state: CellState, endpoint: str = "chat.completions", wire: WireState = WireState.UNKNOWN
) -> Cell:
    violations = [f"{parameter}: body validates: a schema nit"] if wire is WireState.SPEC_VIOLATED else []
    return Cell(
        endpoint=endpoint,
        parameter=parameter,
        state=state,
        case_ids=[f"{parameter}.case"],
        wire=wire,
        violations=violations,
    )


STREAMING = features.Feature("chat.completions", "Streaming", ("stream", "stream_options.include_usage"))


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ([_cell("stream", CellState.SUPPORTED), _cell("stream_options.include_usage", CellState.SUPPORTED)],
         features.FeatureState.SUPPORTED),
        ([_cell("stream", CellState.SUPPORTED), _cell("stream_options.include_usage", CellState.IGNORED)],
         features.FeatureState.PARTIAL),
        ([_cell("stream", CellState.SUPPORTED)], features.FeatureState.PARTIAL),  # a row never tried
        ([_cell("stream", CellState.SUPPORTED), _cell("stream_options.include_usage", CellState.UNTESTED)],
         features.FeatureState.PARTIAL),
        ([_cell("stream", CellState.REJECTED), _cell("stream_options.include_usage", CellState.BROKEN)],
         features.FeatureState.UNSUPPORTED),
        ([_cell("stream", CellState.UNTESTED)], features.FeatureState.NOT_MEASURED),
        ([_cell("stream", CellState.INCONCLUSIVE), _cell("stream_options.include_usage", CellState.INCONCLUSIVE)],
         features.FeatureState.NOT_MEASURED),  # no evidence either way: not "unsupported"
        ([_cell("stream", CellState.SUPPORTED), _cell("stream_options.include_usage", CellState.INCONCLUSIVE)],
         features.FeatureState.PARTIAL),
        ([_cell("stream", CellState.SUPPORTED, endpoint="completions")], features.FeatureState.NOT_MEASURED),
        ([], features.FeatureState.NOT_MEASURED),
    ],
)  # fmt: skip
def test_feature_state_follows_its_cells(cells: list[Cell], expected: features.FeatureState) -> None:
    (status,) = features.summarise([STREAMING], cells, "chat.completions")
    assert status.state is expected


def test_a_glob_row_needs_every_matching_cell_supported() -> None:
    errors = features.Feature("embeddings", "Errors", ("errors.*",))
    good = [_cell("errors.a", CellState.SUPPORTED, "embeddings"), _cell("errors.b", CellState.SUPPORTED, "embeddings")]
    bad = [*good[:1], _cell("errors.b", CellState.IGNORED, "embeddings")]
    assert features.summarise([errors], good, "embeddings")[0].state is features.FeatureState.SUPPORTED
    assert features.summarise([errors], bad, "embeddings")[0].state is features.FeatureState.UNSUPPORTED


def test_every_feature_row_is_measured_by_some_case() -> None:
    """A typo in features.yaml would leave a box forever 'not measured'; this keeps it honest."""
    rows = {(c.endpoint, c.parameter) for c in list_cases()}
    unmatched = {
        (f.endpoint, pattern)
        for f in features.load_features()
        for pattern in f.rows
        if not any(e == f.endpoint and fnmatch.fnmatchcase(p, pattern) for e, p in rows)
    }
    assert unmatched == NOT_YET_MEASURED


def test_reports_show_the_feature_boxes() -> None:
    run = sample_results()
    endpoint = run.cells[0].endpoint if run.cells else run.cases[0].endpoint
    table = features.summarise(features.load_features(), run.cells, endpoint)
    md = markdown.render([run])
    page = html.render([run])
    if table:
        assert "| Feature" in md
        assert 'class="features"' in page
        for status in table:
            assert status.feature.name in md


@pytest.mark.parametrize("wire", [WireState.SPEC_VIOLATED, WireState.BREAKS_SDK])
def test_the_roll_up_reads_the_behaviour_axis_only(wire: WireState) -> None:
    """A server that streams fine with a schema nit is a streaming server: the nit is the wire's to show."""
    (streaming,) = [f for f in features.load_features() if (f.endpoint, f.name) == ("chat.completions", "Streaming")]
    cells = [_cell(row, CellState.SUPPORTED, wire=wire) for row in streaming.rows]
    (status,) = features.summarise([streaming], cells, "chat.completions")
    assert status.state is features.FeatureState.SUPPORTED
    run = sample_results(cases=[]).model_copy(update={"cells": cells})
    row = next(line for line in markdown.render([run]).splitlines() if line.startswith("| Streaming"))
    assert "✅ supported" in row
    page = html.render([run])
    assert "<tr><th>Streaming</th><td>✅ supported</td></tr>" in page
    assert wire.value in page  # ...while the grid still shows the wire problem
