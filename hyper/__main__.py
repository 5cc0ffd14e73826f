"""``python -m hyper``: the same command as the ``hyper`` console script (see :mod:`hyper.cli`)."""

from __future__ import annotations

import sys

from hyper.cli import main

if __name__ == "__main__":
    sys.exit(main())
