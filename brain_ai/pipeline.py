"""Deprecated import path: :mod:`brain_ai.app.pipeline` (moved when the package was grouped into
``config``, ``training`` and ``app``). Works for this release, with a ``DeprecationWarning``."""

import warnings

from brain_ai.app.pipeline import *  # noqa: F403
from brain_ai.app.pipeline import train  # noqa: F401

warnings.warn(
    "brain_ai.pipeline moved to brain_ai.app.pipeline; the old path goes away in the next release",
    DeprecationWarning,
    stacklevel=2,
)
