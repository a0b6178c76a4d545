"""The import paths users had before the package was grouped still work for one release, with a warning."""

import subprocess
import sys

import pytest

MOVED = [
    ("brain_ai.module", "brain_ai.training.module", "SNNLitModule"),
    ("brain_ai.callbacks", "brain_ai.training.callbacks", "ProbeLogger"),
    ("brain_ai.pipeline", "brain_ai.app.pipeline", "train"),
]


@pytest.mark.parametrize("old, new, name", MOVED)
def test_old_path_warns_and_gives_the_same_object(old, new, name):
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        f"assert getattr(old, {name!r}) is getattr(new, {name!r})\n"
        "messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]\n"
        f"assert any({old!r} + ' moved to ' + {new!r} in m for m in messages), messages\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
