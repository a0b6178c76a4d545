"""Thin wrapper: `python scripts/gen_spiking_tests.py --help` (see brain_ai.tools.gen_spiking_tests)."""

import sys

from brain_ai.tools.gen_spiking_tests import main

if __name__ == "__main__":
    sys.exit(main())
