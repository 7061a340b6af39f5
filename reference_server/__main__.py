"""`python -m reference_server`: the same as the `reference-server` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
