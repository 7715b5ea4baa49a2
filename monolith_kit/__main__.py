"""`python -m monolith_kit` is the backfill command (monolith_kit/backfill.py)."""

import sys

from monolith_kit.backfill import main

if __name__ == "__main__":
    sys.exit(main())
