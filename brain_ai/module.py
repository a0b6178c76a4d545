"""Deprecated import path: :mod:`brain_ai.training.module` (moved when the package was grouped into
``config``, ``training`` and ``app``). Works for this release, with a ``DeprecationWarning``."""

import warnings

from brain_ai.training.module import *  # noqa: F403
from brain_ai.training.module import SNNLitModule  # noqa: F401

warnings.warn(
    "brain_ai.module moved to brain_ai.training.module; the old path goes away in the next release",
    DeprecationWarning,
    stacklevel=2,
)
