"""Remove secrets from rendered text, whatever format escaped them into.

The runner already redacts the API key from the evidence it records; this is the second line of
defence, applied to every report and console line, so that a key that slipped into a reason string,
an echoed request body or a run option still never reaches a file someone might publish.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from xml.sax.saxutils import escape as xml_escape

from conformance.credentials import SECRET_HEADERS
from conformance.results import CaseResult, Exchange, RunResults

__all__ = ["REDACTED", "SECRET_HEADERS", "mask_credential_headers", "scrub"]

REDACTED = "[REDACTED]"

# Shorter "keys" (e.g. `--api-key x` for a keyless server) would match ordinary text everywhere and
# turn every report into noise; they protect nothing worth hiding, so they are left alone.
MIN_SECRET_LENGTH = 6


def _forms(secret: str) -> set[str]:
    """The secret as each of our formats may spell it: raw, JSON-escaped, HTML/XML-escaped."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        xml_escape(secret, {'"': "&quot;"}),
    }
    return {f for f in forms if f}


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            continue
        # Longest first, so that an escaped form containing the raw one is replaced whole.
        for form in sorted(_forms(secret), key=len, reverse=True):
            text = text.replace(form, REDACTED)
    return text


def _mask(value: str) -> str:
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {REDACTED}" if credential and scheme.isalpha() else REDACTED


def _mask_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: _mask(v) if k.lower() in SECRET_HEADERS and REDACTED not in v else v for k, v in headers.items()
    }


def _mask_exchange(ex: Exchange) -> Exchange:
    return ex.model_copy(
        update={
            "request_headers": _mask_headers(ex.request_headers),
            "response_headers": _mask_headers(ex.response_headers),
        }
    )


def _mask_case(case: CaseResult) -> CaseResult:
    return case.model_copy(update={"evidence": [_mask_exchange(ex) for ex in case.evidence]})


def mask_credential_headers(run: RunResults) -> RunResults:
    """The run with every credential header's value masked, keeping the auth scheme for the reader:
    the first SDK's cases and every other SDK's replays alike."""
    return run.model_copy(
        update={
            "cases": [_mask_case(case) for case in run.cases],
            "sdk_cases": [_mask_case(case) for case in run.sdk_cases],
        }
    )
