"""brain_ai.app.allocator: large freed blocks are reused while the setting is on, the setting is
undone on exit, and training gives the same result with and without it."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
import torch
from framework_helpers import REPO, TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.app.allocator import _glibc, reuse_large_blocks

# Minor page faults of allocating, filling and freeing a block, 16 times, before / inside / after
# reuse_large_blocks(True). Inside, glibc needs a few rounds to settle into reusing the heap block.
# After, the block is larger than anything freed into the heap before, so only a fresh mmap
# (the restored default) can serve it.
_FAULTS_SCRIPT = r"""
import json, resource, torch
from brain_ai.app.allocator import reuse_large_blocks

def faults(mib, rounds=16):
    counts = []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = torch.ones(mib * 2**20 // 4)
        del block
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts

torch.ones(1)
result = {"before": faults(64)}
with reuse_large_blocks(True) as applied:
    result["applied"] = applied
    result["inside"] = faults(64)
result["after"] = faults(128)
print(json.dumps(result))
"""

PAGES_64MIB = 64 * 2**20 // 4096


@pytest.mark.skipif(_glibc() is None, reason="the allocator setting only applies to glibc on Linux")
def test_reuse_is_applied_and_undone_on_exit():
    proc = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["applied"] is True
    # default glibc: every 64 MiB block is a fresh mmap, faulted in page by page
    assert statistics.median(result["before"]) > 0.9 * PAGES_64MIB
    # reuse on: once settled, the freed block is reused without faulting
    assert statistics.median(result["inside"][-5:]) < 0.05 * PAGES_64MIB
    # undone: fresh mmaps again (128 MiB blocks)
    assert statistics.median(result["after"]) > 1.8 * PAGES_64MIB


def test_disabled_changes_nothing():
    with reuse_large_blocks(False) as applied:
        assert applied is False


def test_training_is_bit_identical_with_and_without_reuse(tmp_path):
    weights, metrics = [], []
    for enabled in (True, False):
        out = tmp_path / str(enabled)
        with reuse_large_blocks(enabled):
            metrics.append(pipeline.train(compose_config([*TINY, "trainer.max_epochs=2"], output_dir=out)))
        ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        weights.append(ckpt["state_dict"])
    assert metrics[0] == metrics[1]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
