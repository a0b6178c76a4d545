"""The import paths users had before the package was grouped still work for one release, with a warning."""

import subprocess
import sys

MOVED = [
    ("brain_ai.module", "brain_ai.training.module", "SNNLitModule"),
    ("brain_ai.callbacks", "brain_ai.training.callbacks", "ProbeLogger"),
    ("brain_ai.pipeline", "brain_ai.app.pipeline", "train"),
]


def test_old_paths_warn_and_give_the_same_objects():
    code = (
        "import importlib, warnings\n"
        f"for old, new, name in {MOVED!r}:\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        moved = importlib.import_module(old)\n"
        "    assert getattr(moved, name) is getattr(importlib.import_module(new), name), old\n"
        "    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]\n"
        "    assert any(old + ' moved to ' + new in m for m in messages), (old, messages)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
