"""Thin wrapper: `python scripts/amp_stress_test.py --help` (see brain_ai.tools.amp_stress_test)."""

import sys

from brain_ai.tools.amp_stress_test import main

if __name__ == "__main__":
    sys.exit(main())
