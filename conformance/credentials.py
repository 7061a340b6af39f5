"""Where a run's API key comes from, and which headers carry credentials.

One definition of each, because every front end (the CLI, `replay`, `fuzz`, the pytest plugin) and
both redactions (the runner's evidence, the reports' second pass) must agree: a key read from
another variable by one front end, or a header masked by one redaction and not the other, is a
key that leaks or a run that is refused for no visible reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

API_KEY_ENV = "OPENAI_API_KEY"

# Request and response headers whose values are credentials: masked in evidence and reports even
# when the key itself is not known (e.g. `conformance report` on someone else's results file).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "openai-api-key",
        "cookie",
        "set-cookie",
    }
)


def api_key(
    explicit: str | None, profile_env: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The key to send: the one given, else the provider profile's variable, else $OPENAI_API_KEY.

    An empty value counts as none, so `OPENAI_API_KEY=` in a shell does not send `Bearer `.
    """
    env = os.environ if environ is None else environ
    return explicit or (env.get(profile_env) if profile_env else None) or env.get(API_KEY_ENV) or None
