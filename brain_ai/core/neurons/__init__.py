"""Spiking neurons with explicit state: the LIF family, AdEx, the parallel spiking neurons (PSN), their pure
step functions and a factory.

``spikes, state = neuron(x_t, state)`` for one step ``(B, *size)``; ``forward_sequence`` for
``(B, T, *size)`` through :func:`brain_ai.core.unroll.run_segments`. See docs/neurons.md.
"""

from brain_ai.core.neurons.adex import AdExNeuron, adex_step
from brain_ai.core.neurons.advanced import TAU_RANGE, AdvancedLIFNeuron, sample_tau
from brain_ai.core.neurons.base import LeakyCellBase, NeuronLayerBase, SpikingNeuronBase
from brain_ai.core.neurons.factory import NEURONS, build_neuron
from brain_ai.core.neurons.functional import (
    adaptive_lif_step,
    charge,
    delayed_input,
    fire,
    leaky_integrator_step,
    lif_step,
    recurrent_lif_step,
    reset_membrane,
)
from brain_ai.core.neurons.lif import (
    AdaptiveLIFNeuron,
    LeakyIntegrator,
    LIFNeuron,
    RecurrentAdaptiveLIFNeuron,
    RecurrentLIFNeuron,
)
from brain_ai.core.neurons.psn import PSN, MaskedPSN, ParallelSpikingNeuron, SlidingPSN
from brain_ai.core.neurons.state import STATE_FIELDS, SpikingState, state_dtype_for

__all__ = [
    "AdExNeuron",
    "AdaptiveLIFNeuron",
    "AdvancedLIFNeuron",
    "LIFNeuron",
    "LeakyCellBase",
    "LeakyIntegrator",
    "MaskedPSN",
    "NEURONS",
    "NeuronLayerBase",
    "PSN",
    "ParallelSpikingNeuron",
    "RecurrentAdaptiveLIFNeuron",
    "RecurrentLIFNeuron",
    "STATE_FIELDS",
    "SlidingPSN",
    "SpikingNeuronBase",
    "SpikingState",
    "TAU_RANGE",
    "adaptive_lif_step",
    "adex_step",
    "build_neuron",
    "charge",
    "delayed_input",
    "fire",
    "leaky_integrator_step",
    "lif_step",
    "recurrent_lif_step",
    "reset_membrane",
    "sample_tau",
    "state_dtype_for",
]
