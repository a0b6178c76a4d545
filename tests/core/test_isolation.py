"""The core imports with torch only: every module of ``brain_ai.core`` loads without Lightning,
Hydra, OmegaConf or torchmetrics."""

import ast
import subprocess
import sys
from pathlib import Path

import brain_ai

APP_LAYERS = ("lightning", "pytorch_lightning", "lightning_fabric", "hydra", "omegaconf", "torchmetrics")


def test_every_core_module_imports_without_the_app_layers():
    code = (
        "import importlib, pkgutil, sys; import brain_ai.core as core; "
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'brain_ai.core.')]; "
        "[importlib.import_module(n) for n in names]; "
        f"bad = [m for m in {APP_LAYERS!r} if m in sys.modules]; "
        "print(len(names), bad); sys.exit(1 if bad or len(names) < 24 else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_module_imports_another_modules_private_names():
    """Each module's ``_name`` helpers are its own: a helper two modules share is public (issue 24)."""
    package = Path(brain_ai.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("brain_ai"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                found += [f"{path.relative_to(package)}: from {node.module} import {name}" for name in private]
    assert found == []
