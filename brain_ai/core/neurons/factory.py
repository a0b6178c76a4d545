"""``build_neuron``: a neuron layer from a :class:`~brain_ai.config.NeuronConfig`, by registry."""

from __future__ import annotations

from typing import Dict, Type

from brain_ai.config import NeuronConfig, NeuronType
from brain_ai.core.neurons.adex import AdExNeuron
from brain_ai.core.neurons.advanced import AdvancedLIFNeuron
from brain_ai.core.neurons.base import NeuronLayerBase, Size
from brain_ai.core.neurons.lif import AdaptiveLIFNeuron, LIFNeuron, RecurrentAdaptiveLIFNeuron, RecurrentLIFNeuron
from brain_ai.core.neurons.psn import PSN, MaskedPSN, SlidingPSN

#: Neuron classes by :class:`NeuronType`; every one is built as ``cls(size, cfg)``.
NEURONS: Dict[NeuronType, Type[NeuronLayerBase]] = {
    NeuronType.lif: LIFNeuron,
    NeuronType.adaptive_lif: AdaptiveLIFNeuron,
    NeuronType.recurrent_lif: RecurrentLIFNeuron,
    NeuronType.advanced_lif: AdvancedLIFNeuron,
    NeuronType.recurrent_adaptive_lif: RecurrentAdaptiveLIFNeuron,
    NeuronType.adex: AdExNeuron,
    NeuronType.psn: PSN,
    NeuronType.masked_psn: MaskedPSN,
    NeuronType.sliding_psn: SlidingPSN,
}


def build_neuron(cfg: NeuronConfig, size: Size) -> NeuronLayerBase:
    """Build the ``cfg.type`` neuron layer of feature shape ``size`` (surrogate from cfg.surrogate/_alpha)."""
    if not isinstance(cfg, NeuronConfig):
        raise TypeError(f"build_neuron: cfg must be a NeuronConfig, got {type(cfg).__name__}")
    return NEURONS[cfg.type](size, cfg)
