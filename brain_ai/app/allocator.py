"""Keep freed large blocks for reuse instead of returning them to the kernel (glibc, Linux).

glibc serves every allocation above its mmap threshold (dynamic, at most 32 MiB on 64-bit) with
a fresh ``mmap`` and unmaps it again on ``free``. A CPU training step whose activations are that
large (a ``snn=conv`` activation on mnist5k is 160 MB) then faults every page of them in again on
every step: most of the step is spent in the kernel (``sys`` time), not in arithmetic.

:func:`reuse_large_blocks` sets ``M_MMAP_MAX=0`` (serve every block from the heap) and
``M_TRIM_THRESHOLD=2 GiB - 1`` (do not hand the heap top back after each step) through
``mallopt``, and restores glibc's static defaults on exit. The cost is a higher resident set:
freed blocks stay mapped until the process ends (``benchmarks/train_throughput.py`` measures both).
An alternative without this module is preloading tcmalloc (Debian: ``libtcmalloc-minimal4``,
``LD_PRELOAD=libtcmalloc_minimal.so.4 python train.py allocator_reuse=false``); the measured
comparison of the two is on the "Speed and memory" docs page.

On other platforms (macOS, Windows, musl) nothing changes. ``train.py`` and ``evaluate.py``
apply it for the whole run unless ``allocator_reuse=false``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import platform
import sys
from typing import Dict, Iterator, Optional

log = logging.getLogger(__name__)

#: ``mallopt`` parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: What :func:`reuse_large_blocks` sets: no mmap-served blocks; keep up to 2 GiB free at the heap top.
REUSE_SETTINGS: Dict[int, int] = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1}
#: glibc's static defaults (restored on exit; glibc's *dynamic* mmap threshold stays off once
#: mallopt has been called, which only makes later allocations more predictable).
GLIBC_DEFAULTS: Dict[int, int] = {M_MMAP_MAX: 65536, M_TRIM_THRESHOLD: 128 * 1024}

_NAMES = {M_MMAP_MAX: "M_MMAP_MAX", M_TRIM_THRESHOLD: "M_TRIM_THRESHOLD"}


def _glibc() -> Optional[ctypes.CDLL]:
    """The C library if it is glibc on Linux (the only allocator this module tunes), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def _mallopt(libc: ctypes.CDLL, settings: Dict[int, int]) -> None:
    for param, value in settings.items():
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            raise OSError(f"mallopt({_NAMES[param]}, {value}) failed")


def describe(settings: Dict[int, int]) -> str:
    """``"M_MMAP_MAX=0, M_TRIM_THRESHOLD=2147483647"`` for a settings dict."""
    return ", ".join(f"{_NAMES[p]}={v}" for p, v in settings.items())


@contextlib.contextmanager
def reuse_large_blocks(enabled: bool = True) -> Iterator[bool]:
    """Within the block, freed large blocks stay in the heap for reuse (glibc only).

    Yields whether the setting was applied (False when ``enabled`` is False or the C library is
    not glibc); logs one line saying what was set. Restores :data:`GLIBC_DEFAULTS` on exit.
    """
    libc = _glibc() if enabled else None
    if libc is None:
        reason = "allocator_reuse=false" if not enabled else f"not glibc on Linux ({sys.platform})"
        log.info("allocator: unchanged (%s)", reason)
        yield False
        return
    _mallopt(libc, REUSE_SETTINGS)
    log.info(
        "allocator: glibc mallopt %s (large freed blocks are reused; allocator_reuse=false turns this off)",
        describe(REUSE_SETTINGS),
    )
    try:
        yield True
    finally:
        _mallopt(libc, GLIBC_DEFAULTS)


__all__ = ["reuse_large_blocks", "describe", "REUSE_SETTINGS", "GLIBC_DEFAULTS"]
