"""argparse value types shared by every subcommand, so a bad number reads the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def _bounded(kind: type[N], *, allow_zero: bool) -> Callable[[str], N]:
    wanted = f"{'an integer >= 0' if allow_zero else 'a positive ' + ('integer' if kind is int else 'number')}"

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero) or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


positive_int = _bounded(int, allow_zero=False)
non_negative_int = _bounded(int, allow_zero=True)
positive_float = _bounded(float, allow_zero=False)
