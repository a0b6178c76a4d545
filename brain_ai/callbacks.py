"""Deprecated import path: :mod:`brain_ai.training.callbacks` (moved when the package was grouped into
``config``, ``training`` and ``app``). Works for this release, with a ``DeprecationWarning``."""

import warnings

from brain_ai.training.callbacks import *  # noqa: F403
from brain_ai.training.callbacks import ProbeLogger  # noqa: F401

warnings.warn(
    "brain_ai.callbacks moved to brain_ai.training.callbacks; the old path goes away in the next release",
    DeprecationWarning,
    stacklevel=2,
)
