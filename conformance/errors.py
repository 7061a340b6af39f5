"""Errors the user can fix: the CLI prints their one-line message and exits 2, without a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input to the harness: unreachable base URL, unknown model, bad case file, bad pattern."""
