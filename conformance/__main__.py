"""`python -m conformance`: the same command as the `conformance` console script."""

import sys

from conformance.cli import main

sys.exit(main())
