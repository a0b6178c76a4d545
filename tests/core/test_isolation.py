"""The core imports with torch only: no Lightning, Hydra or OmegaConf."""

import subprocess
import sys


def test_core_does_not_import_app_layers():
    code = (
        "import sys; import brain_ai.core; "
        "import brain_ai.core.neurons, brain_ai.core.unroll, brain_ai.core.probes, brain_ai.core.memory, brain_ai.core.surrogates; "
        "bad = [m for m in ('lightning', 'pytorch_lightning', 'hydra', 'omegaconf') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
