"""Helpers of the NIR tests: small random networks whose layers all spike, and inputs for them."""

from __future__ import annotations

from typing import Tuple

import torch

from brain_ai.config import NeuronConfig, SNNConfig
from brain_ai.core.snn import build_snn


def active_net(cfg: SNNConfig, seed: int = 0, gain: float = 2.5):
    """``build_snn(cfg)`` in eval mode with weights scaled up so that every layer spikes."""
    torch.manual_seed(seed)
    net = build_snn(cfg).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.mul_(gain)
    return net


def spike_input(cfg: SNNConfig, batch: int = 3, steps: int = 25, seed: int = 1) -> torch.Tensor:
    """Bernoulli(0.3) spikes ``(B, T, *features)`` matching ``cfg``'s input."""
    g = torch.Generator().manual_seed(seed)
    shape: Tuple[int, ...] = (cfg.input_size,) if cfg.input_size else tuple(cfg.input_shape)
    return (torch.rand(batch, steps, *shape, generator=g) < 0.3).float()


def mlp(neuron: NeuronConfig, **kw) -> SNNConfig:
    return SNNConfig(
        input_size=kw.pop("input_size", 12),
        hidden_sizes=kw.pop("hidden_sizes", [16, 10]),
        output_size=kw.pop("output_size", 4),
        neuron=neuron,
        **kw,
    )


def conv(neuron: NeuronConfig, **kw) -> SNNConfig:
    return SNNConfig(
        architecture="conv",
        input_shape=kw.pop("input_shape", [2, 8, 8]),
        conv_channels=kw.pop("conv_channels", [4, 6]),
        hidden_sizes=kw.pop("hidden_sizes", [10]),
        output_size=kw.pop("output_size", 3),
        norm=kw.pop("norm", "none"),
        neuron=neuron,
        **kw,
    )
