"""The one place where brain_ai's per-step decays meet NIR's continuous time constants.

Forward-Euler convention with step ``dt`` (see the table in :mod:`brain_ai.interop.nir`)::

    decay  = 1 - dt / tau          (beta for the membrane, synaptic_beta for the current)
    gain   = r * dt / tau_mem      (membrane input gain; brain_ai's is exactly 1)
    gain_s = w_in * dt / tau_syn   (CubaLIF current input gain; brain_ai's is exactly 1)

All arithmetic is float64 so that export -> import returns the float32 decays bit for bit.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from brain_ai.config import BETA_MAX, ConfigError


class NIRExportError(ConfigError):
    """The network uses a feature that NIR cannot express; the message names every layer and feature.

    ``approximations`` lists what ``approximate=True`` would export as the nearest graph (empty
    when nothing would make the network exportable)."""

    def __init__(self, message: str, approximations: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.approximations = list(approximations)


class NIRImportError(ValueError):
    """A NIR graph brain_ai cannot load; the message names the node and the reason."""


#: Default step length written into exported graphs and assumed when loading one without a
#: recorded ``dt`` (snnTorch's NIR importer and exporter hard-code this value).
DEFAULT_DT = 1e-4

#: graph.metadata key holding the training hyper-parameters (JSON) of a graph exported from a checkpoint
HPARAMS_KEY = "brain_ai_hparams"

#: An input gain within this relative distance of 1 counts as 1: NIR files usually store tau and
#: r in float32, which cannot hold a ratio closer to 1 than a few 1e-7.
UNIT_GAIN_RTOL = 1e-6


def decay_to_tau(decay: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
    """``(tau, gain_param)`` for a per-step decay: ``tau = dt / (1 - decay)``, ``r = w_in = 1 / (1 - decay)``.

    ``gain_param`` is NIR's ``r`` (membrane) or ``w_in`` (synaptic current); it makes the Euler
    step's input gain ``gain_param * dt / tau`` equal to 1. Decays are float64, in [0, BETA_MAX].
    """
    leak = 1.0 - np.asarray(decay, dtype=np.float64)
    return dt / leak, 1.0 / leak


def tau_to_decay(tau: np.ndarray, dt: float, where: str) -> np.ndarray:
    """Per-step decay ``1 - dt / tau`` (float64); :class:`NIRImportError` naming ``where`` if outside [0, BETA_MAX]."""
    tau = np.asarray(tau, dtype=np.float64)
    if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
        raise NIRImportError(f"{where}: time constants must be finite and > 0, got tau in [{tau.min()}, {tau.max()}]")
    decay = 1.0 - dt / tau
    if np.any(decay < 0) or np.any(decay > BETA_MAX):
        raise NIRImportError(
            f"{where}: tau in [{tau.min():g}, {tau.max():g}] with dt={dt:g} gives a per-step decay 1 - dt/tau in "
            f"[{decay.min():g}, {decay.max():g}]; brain_ai allows [0, {BETA_MAX}] (choose dt with tau >= dt and "
            f"tau <= dt / (1 - {BETA_MAX}))"
        )
    return decay


def input_gain(gain_param: np.ndarray, tau: np.ndarray, dt: float) -> np.ndarray:
    """Euler input gain ``gain_param * dt / tau`` (float64), with values near 1 (``UNIT_GAIN_RTOL``) set to 1."""
    gain = np.asarray(gain_param, dtype=np.float64) * dt / np.asarray(tau, dtype=np.float64)
    return np.where(np.abs(gain - 1.0) <= UNIT_GAIN_RTOL, 1.0, gain)
