"""Non-spiking recurrent baselines (``snn.architecture=lstm`` / ``gru``) with the SNNs' interface.

:class:`RecurrentANN`: ``(B, T, *F) -> [torch.nn.LSTM | torch.nn.GRU] * len(hidden_sizes) (-> dropout)
-> Linear`` applied at every step. Its output ``(B, T, output_size)`` plays the role of the
membrane of a non-spiking readout, so ``decoding=membrane`` (max / final / mean over time) and the
classification losses read it unchanged. It returns the same :class:`~brain_ai.core.snn.SNNOutput`
as the SNNs, with no spikes, membranes or probes: ``layer_spikes`` stays empty, so spike-based
callbacks log nothing (``brain_ai.config.compat.check_network`` refuses spiking decoders and activity
regularisers for it). ``final_states`` carries every layer's hidden state, so a sequence can be
continued (streaming, :func:`~brain_ai.core.snn.run_streaming`).
"""

from __future__ import annotations

from typing import ClassVar, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from brain_ai.config import NON_SPIKING_ARCHITECTURES, Architecture, ConfigError, SNNConfig
from brain_ai.core.network_output import SNNOutput, dropout_masks, dropout_seeds, over_time
from brain_ai.core.neurons.state import check_finite
from brain_ai.core.spike_input import as_compute

#: One layer's state, batch-first: LSTM ``(h (B, H), c (B, H))``, GRU ``(h (B, H),)``.
RecurrentState = Tuple[Tensor, ...]

_CELLS = {Architecture.lstm: nn.LSTM, Architecture.gru: nn.GRU}


class RecurrentANN(nn.Module):
    """Stacked LSTM / GRU layers (sizes ``cfg.hidden_sizes``) and a per-step Linear readout.

    ``forward(x (B, T, *F), state=None) -> SNNOutput`` with ``output (B, T, output_size)``; features
    are flattened to ``cfg.input_size``. Layers are named ``layer0``, ``layer1``, ...
    ``spiking = False``: it takes none of the SNNs' spike-recording arguments (``record_membrane``,
    ``keep_spikes``, ``mask``), having no spikes, membranes or probes to record.
    """

    spiking: ClassVar[bool] = False

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__()
        if cfg.architecture not in NON_SPIKING_ARCHITECTURES:
            raise ConfigError(
                f"RecurrentANN: snn.architecture={cfg.architecture.name}; allowed: {', '.join(sorted(a.name for a in NON_SPIKING_ARCHITECTURES))}"
            )
        for name in ("input_size", "output_size"):
            if getattr(cfg, name) is None:
                raise ConfigError(f"snn.{name} is None: set it, or let the pipeline infer it from the data and decoder")
        self.cfg = cfg
        cell = _CELLS[cfg.architecture]
        sizes = [cfg.input_size, *cfg.hidden_sizes]
        self.layers = nn.ModuleList(cell(n_in, n_out, batch_first=True) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(sizes[-1], cfg.output_size)

    @property
    def layer_names(self) -> List[str]:
        """Names of the recurrent layers in order (``layer0`` ...); the keys of ``final_states``."""
        return [f"layer{i}" for i in range(len(self.layers))]

    def forward(
        self,
        x: Tensor,
        state: Optional[Dict[str, Optional[RecurrentState]]] = None,
        *,
        return_details: bool = False,
        generator: Optional[torch.Generator] = None,
    ) -> SNNOutput:
        """Run the layers on ``x (B, T, *F)`` from ``state`` (None = zeros; else ``final_states``
        of a previous call, so ``x[:, :k]`` then ``x[:, k:]`` equals ``x`` in one call).

        ``return_details`` keeps the flattened input ``(B, T, F)`` in ``inputs`` (there are no
        spikes, membranes or probes to record).
        ``generator`` draws the dropout masks (training with ``cfg.dropout > 0``; None = the global RNG).
        Returns an :class:`~brain_ai.core.snn.SNNOutput` with ``output (B, T, output_size)``.
        """
        if x.dim() < 3:
            raise ValueError(f"RecurrentANN expects input (B, T, features...), got shape {tuple(x.shape)}")
        x = x.flatten(2)  # (B, T, F)
        if x.shape[-1] != self.cfg.input_size:
            raise ValueError(
                f"snn.input_size={self.cfg.input_size} but the input has {x.shape[-1]} features per step (input shape {tuple(x.shape)})"
            )
        x = as_compute(
            x, self.readout.weight.dtype
        )  # compact (uint8 / bool) spikes: the LSTM / GRU keep a float copy anyway
        check_finite(type(self).__name__, x)
        x_in = x
        states = self._check_state(state, x.shape[0])
        final: Dict[str, RecurrentState] = {}
        seeds = dropout_seeds(x, self.cfg.dropout, generator) if self.training else None
        sizes = self.cfg.hidden_sizes
        masks = [] if seeds is None else dropout_masks(seeds, x.shape[0], sizes, self.cfg.dropout, x.device, x.dtype)
        for i, (name, layer) in enumerate(zip(self.layer_names, self.layers)):
            given = states[name]
            # torch wants (num_layers=1, B, H) per state tensor; kept batch-first (B, H) outside
            torch_state = None if given is None else tuple(t.unsqueeze(0) for t in given)
            if torch_state is not None and isinstance(layer, nn.GRU):
                torch_state = torch_state[0]
            x, last = layer(x, torch_state)  # x (B, T, H)
            final[name] = tuple(t.squeeze(0) for t in (last if isinstance(last, tuple) else (last,)))
            if masks:
                x = x * masks[i]
        inputs = x_in if return_details else None
        return SNNOutput(
            output=over_time(self.readout, x), final_states=final, inputs=inputs
        )  # output (B, T, output_size)

    def _check_state(
        self, state: Optional[Dict[str, Optional[RecurrentState]]], batch_size: int
    ) -> Dict[str, Optional[RecurrentState]]:
        if state is None:
            return {name: None for name in self.layer_names}
        if not isinstance(state, dict) or list(state) != self.layer_names:
            got = list(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"RecurrentANN: state must be a dict with the layers {self.layer_names} (final_states of a previous call), got {got}"
            )
        parts = 2 if self.cfg.architecture is Architecture.lstm else 1
        for (name, given), layer in zip(state.items(), self.layers):
            want = (batch_size, layer.hidden_size)
            if given is not None and (len(given) != parts or any(tuple(t.shape) != want for t in given)):
                shapes = [tuple(t.shape) for t in given]
                raise ValueError(
                    f"RecurrentANN layer {name!r}: state must be {parts} tensor(s) of shape {want}, got {shapes}"
                )
        return dict(state)
