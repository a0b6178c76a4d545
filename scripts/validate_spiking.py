"""Thin wrapper: `python scripts/validate_spiking.py --help` (see brain_ai.tools.validate_spiking)."""

import sys

from brain_ai.tools.validate_spiking import main

if __name__ == "__main__":
    sys.exit(main())
