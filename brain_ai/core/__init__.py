"""brain_ai.core: plain-PyTorch spiking core (no Lightning, no Hydra).

Conventions: tensors are batch-first ``(B, T, ...)``; state is explicit
(``spikes, state = neuron(x_t, state)``); spikes are exactly 0.0 / 1.0.
"""
