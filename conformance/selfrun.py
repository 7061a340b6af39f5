"""The main job in one process: the reference server on the bundled model, then a run against it.

It exists so that a new user (and CI) can see the whole tool work with one command, without
juggling a background server by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from reference_server.launcher import ServerStartError, running_server


def main(argv: Sequence[str] | None = None) -> int:
    """Start the reference server, then `conformance run --base-url <it> --provider reference-server ARGS`."""
    from conformance.cli import main as cli_main

    extra = list(sys.argv[1:] if argv is None else argv)
    print("starting the reference server on the bundled model...", file=sys.stderr)
    try:
        with running_server() as srv:
            print(f"reference server ready at {srv.base_url}", file=sys.stderr)
            return cli_main(["run", "--base-url", srv.base_url, "--provider", "reference-server", *extra])
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
