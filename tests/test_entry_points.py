"""Importing brain_ai changes no process-wide state: warnings filters are installed by the entry
points (train.py / evaluate.py, inside a ``with`` block), never at import."""

from __future__ import annotations

import subprocess
import sys
import warnings

from framework_helpers import REPO

from brain_ai.app.cli import KNOWN_WARNINGS, quiet_known_warnings

#: run in a fresh interpreter: every filterwarnings / simplefilter call made by brain_ai code while
#: importing its modules (third-party libraries install their own filters; those are not ours)
WATCH_IMPORTS = """
import sys, warnings
calls = []
def watch(real):
    def wrapper(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] == "brain_ai":
            calls.append((caller, args))
        return real(*args, **kwargs)
    return wrapper
warnings.filterwarnings = watch(warnings.filterwarnings)
warnings.simplefilter = watch(warnings.simplefilter)
import brain_ai.app.pipeline, brain_ai.training.module, brain_ai.training.callbacks, brain_ai.app.cli, brain_ai.config.hydra_store
assert "brain_ai.app.pipeline" in sys.modules
print(calls)
"""


def test_importing_brain_ai_installs_no_warnings_filter():
    proc = subprocess.run([sys.executable, "-c", WATCH_IMPORTS], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_quiet_known_warnings_silences_them_inside_the_block_only():
    message = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_known_warnings():
            warnings.warn(message, FutureWarning)
            warnings.warn("something else", FutureWarning)
        warnings.warn(message, FutureWarning)
    assert [str(w.message) for w in caught] == ["something else", message]
    assert warnings.filters == before and len(KNOWN_WARNINGS) == 1
