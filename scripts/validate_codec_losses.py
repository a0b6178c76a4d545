"""Thin wrapper: `python scripts/validate_codec_losses.py --help` (see brain_ai.tools.validate_codec_losses)."""

import sys

from brain_ai.tools.validate_codec_losses import main

if __name__ == "__main__":
    sys.exit(main())
