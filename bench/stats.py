"""Summaries of repeated measurements: a benchmark figure is a median with its spread, never one run.

The median resists the odd run disturbed by another process on a shared machine; min and max show how
far the runs disagreed, so a reader can tell a real difference from noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max, relative spread ((max - min) / |median|), quartiles and the number of runs."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"median": None, "min": None, "max": None, "spread": None, "p25": None, "p75": None, "n": 0, "runs": []}
    median = statistics.median(finite)
    spread = (max(finite) - min(finite)) / abs(median) if median else None
    return {
        "median": round(median, digits),
        "min": round(min(finite), digits),
        "max": round(max(finite), digits),
        "spread": round(spread, 4) if spread is not None else None,
        "p25": round(percentile(finite, 25), digits),
        "p75": round(percentile(finite, 75), digits),
        "n": len(finite),
        "runs": [round(v, digits) for v in finite],
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios of runs measured side by side (same round), skipping pairs without a value."""
    return [n / d for n, d in zip(numerators, denominators, strict=False) if n is not None and d]
