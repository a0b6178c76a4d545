"""Thin wrapper: `python scripts/spiking_debug_report.py --help` (see brain_ai.tools.spiking_debug_report)."""

import sys

from brain_ai.tools.spiking_debug_report import main

if __name__ == "__main__":
    sys.exit(main())
