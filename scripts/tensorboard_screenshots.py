"""Thin wrapper: `python scripts/tensorboard_screenshots.py --help` (see brain_ai.tools.tensorboard_screenshots)."""

import sys

from brain_ai.tools.tensorboard_screenshots import main

if __name__ == "__main__":
    sys.exit(main())
