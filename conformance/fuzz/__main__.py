"""`python -m conformance.fuzz`: the fuzzer on its own, with `conformance fuzz`'s flags and exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from conformance.errors import UsageError
from conformance.fuzz.cli import add_fuzz_arguments, fuzz_main

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.fuzz",
        description="Fuzz an OpenAI-compatible server with generated valid and invalid requests.",
        epilog="Exit status: 0 no findings, 1 findings, 2 usage error.",
    )
    add_fuzz_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return fuzz_main(args, Console(highlight=False), Console(stderr=True, highlight=False))
    except UsageError as exc:
        print(f"conformance fuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance fuzz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
