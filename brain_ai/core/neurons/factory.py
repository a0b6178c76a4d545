"""``build_neuron``: a neuron layer from a :class:`~brain_ai.config.NeuronConfig`, by registry."""

from __future__ import annotations

from typing import Dict, Type

from brain_ai.config import NeuronConfig, NeuronType
from brain_ai.core.neurons.adex import AdExNeuron
from brain_ai.core.neurons.advanced import AdvancedLIFNeuron
from brain_ai.core.neurons.base import Size, SpikingNeuronBase
from brain_ai.core.neurons.lif import AdaptiveLIFNeuron, LIFNeuron, RecurrentAdaptiveLIFNeuron, RecurrentLIFNeuron

#: Neuron classes by :class:`NeuronType`; each has ``from_config(cfg, size)``.
NEURONS: Dict[NeuronType, Type[SpikingNeuronBase]] = {
    NeuronType.lif: LIFNeuron,
    NeuronType.adaptive_lif: AdaptiveLIFNeuron,
    NeuronType.recurrent_lif: RecurrentLIFNeuron,
    NeuronType.advanced_lif: AdvancedLIFNeuron,
    NeuronType.recurrent_adaptive_lif: RecurrentAdaptiveLIFNeuron,
    NeuronType.adex: AdExNeuron,
}


def build_neuron(cfg: NeuronConfig, size: Size) -> SpikingNeuronBase:
    """Build the ``cfg.type`` neuron layer of feature shape ``size`` (surrogate from cfg.surrogate/_alpha)."""
    if not isinstance(cfg, NeuronConfig):
        raise TypeError(f"build_neuron: cfg must be a NeuronConfig, got {type(cfg).__name__}")
    return NEURONS[cfg.type].from_config(cfg, size)
