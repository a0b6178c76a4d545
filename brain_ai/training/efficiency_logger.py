"""Lightning callback: the efficiency estimate of every validation pass, logged as metrics.

Tags (per sample, over the whole validation set; :mod:`brain_ai.metrics.efficiency` defines them):

* ``efficiency/<layer>/synops`` -- effective synaptic operations (ACs + MACs) of each layer;
* ``efficiency/total/<key>`` -- every total of :class:`~brain_ai.metrics.efficiency.EfficiencyReport`
  (``synops``, ``dense_ops``, ``effective_acs``, ``effective_macs``, ``activation_sparsity``,
  ``energy_pj``, ``dense_ann_energy_pj``, ``energy_ratio``, ...); the energies are estimates from
  the operation counts.

No extra forward: during each validation batch the callback asks the network's own validation
forward to record what the counts need (a forward pre-hook on ``pl_module.net`` adds
:meth:`~brain_ai.metrics.efficiency.EfficiencyMeter.forward_kwargs`: the layers' spikes and
membranes, no probes) and counts the recorded forward with the input it read (a forward hook);
both hooks are removed after the batch, so no other forward (probes, rasters, training) is
touched. Sanity-check batches are not counted.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

import lightning as L
from torch.utils.hooks import RemovableHandle

from brain_ai.config import EfficiencyConfig
from brain_ai.metrics.efficiency import EfficiencyMeter

#: tag prefix of every logged value
PREFIX = "efficiency"


class EfficiencyLogger(L.Callback):
    """Count the operations of every validation forward and log the report when validation ends.

    Args:
        energy: the energy constants (``e_ac_pj``, ``e_mac_pj``: the ``efficiency`` config group);
            None = :class:`~brain_ai.config.EfficiencyConfig`'s defaults.
    """

    def __init__(self, energy: Optional[Mapping[str, float]] = None) -> None:
        self.energy = EfficiencyConfig(**dict(energy or {}))
        self._meter: Optional[EfficiencyMeter] = None
        self._hooks: List[RemovableHandle] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._meter = None if trainer.sanity_checking else EfficiencyMeter(pl_module.net)

    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self._meter is None:
            return
        meter = self._meter
        record = lambda module, args, kwargs: (args, {**kwargs, **meter.forward_kwargs()})  # noqa: E731
        count = lambda module, args, kwargs, out: meter.update(out, kwargs.get("mask"), inputs=args[0])  # noqa: E731
        self._hooks = [
            pl_module.net.register_forward_pre_hook(record, with_kwargs=True),
            pl_module.net.register_forward_hook(count, with_kwargs=True),
        ]

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._meter is None or self._meter.samples == 0:
            return
        report = self._meter.compute(self.energy)
        self._meter = None
        values = {f"{PREFIX}/{layer}/synops": v["synops"] for layer, v in report.layers.items()}
        values.update({f"{PREFIX}/total/{key}": value for key, value in report.total.items()})
        for name, value in values.items():
            pl_module.log(name, value, sync_dist=True)
