"""Thin wrapper: `python scripts/plot_surrogates.py --help` (see brain_ai.tools.plot_surrogates)."""

import sys

from brain_ai.tools.plot_surrogates import main

if __name__ == "__main__":
    sys.exit(main())
