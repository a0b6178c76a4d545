"""The LightningModule: encode -> SNN -> decode -> loss, with metrics, optimiser and scheduler.

Hyper-parameters are saved as plain primitives (dicts of str/int/float/bool/None made by
:func:`brain_ai.config.to_dict`), so ``SNNLitModule.load_from_checkpoint(path)`` works with
``torch.load(weights_only=True)`` -- no DictConfig, Enum, partial or module is pickled.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Tuple

import lightning as L
import torch
import torchmetrics
from torch import Tensor

from brain_ai.config import (
    DataConfig,
    DecodingConfig,
    EncodingConfig,
    LossConfig,
    OptimConfig,
    OptimizerName,
    SchedulerName,
    SNNConfig,
    from_dict,
)
from brain_ai.core.decoding import DecoderOutput, build_decoder
from brain_ai.core.encoding import build_encoder
from brain_ai.core.losses import LossInputs, build_loss
from brain_ai.core.snn import SNNOutput, build_snn, run_streaming
from brain_ai.data import augment_shift_of
from brain_ai.data.augment import random_shift
from brain_ai.data.ragged import split_batch
from brain_ai.schedules import build_scheduler, horizon, replan

#: per-batch seed = seed + _SEED_STRIDE * epoch + batch_idx (distinct for epochs of < 1e6 batches)
_SEED_STRIDE = 1_000_003

_OPTIMIZERS = {
    OptimizerName.adam: torch.optim.Adam,
    OptimizerName.adamw: torch.optim.AdamW,
    OptimizerName.sgd: torch.optim.SGD,
}


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run the block in eval mode without gradients; the module's previous mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class SNNLitModule(L.LightningModule):
    """Train an SNN end to end.

    Args:
        snn, encoding, decoding, loss, optim: plain dicts of :class:`SNNConfig`,
            :class:`EncodingConfig`, :class:`DecodingConfig`, :class:`LossConfig`,
            :class:`OptimConfig` (``to_dict`` output); ``snn`` must have its input/output sizes set.
        num_classes: classes of the task (targets are ``int64`` class indices ``(B,)``), or the
            number of regression targets when ``task == "regression"`` (targets ``(B, D)`` float).
        seed: base seed; every training batch re-seeds torch from ``(seed, epoch, batch_idx)`` only,
            so that a run resumed from a checkpoint draws the same encoder spikes and dropout masks
            as an uninterrupted one (whatever else consumed random numbers in between, e.g. the
            moment Lightning creates the data-loader iterator, which differs after a resume).
        data: the data config dict, stored only so that ``evaluate.py`` can rebuild the data.
    """

    def __init__(
        self,
        snn: Dict[str, Any],
        encoding: Dict[str, Any],
        decoding: Dict[str, Any],
        loss: Dict[str, Any],
        optim: Dict[str, Any],
        num_classes: int,
        task: str = "classification",
        seed: int = 0,
        data: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if task not in ("classification", "regression"):
            raise ValueError(f"task={task!r}; allowed: classification, regression")
        self.snn_cfg = from_dict(SNNConfig, snn)
        self.encoding_cfg = from_dict(EncodingConfig, encoding)
        self.decoding_cfg = from_dict(DecodingConfig, decoding)
        self.loss_cfg = from_dict(LossConfig, loss)
        self.optim_cfg = from_dict(OptimConfig, optim)
        self.task = task
        self.augment_shift = augment_shift_of(from_dict(DataConfig, data)) if data else 0
        self.encoder = build_encoder(self.encoding_cfg)
        self.net = build_snn(self.snn_cfg)
        self.decoder = build_decoder(self.decoding_cfg, num_classes)
        self.criterion = build_loss(self.loss_cfg)
        # keys get a suffix: "train" would clash with nn.Module.train
        self.metrics = torch.nn.ModuleDict({f"{stage}_metrics": self._make_metrics(task, num_classes) for stage in ("train", "val", "test")})
        #: outside training, run the SNN in windows of this many steps with carried state (None: one pass)
        self.stream_window: Optional[int] = None

    @staticmethod
    def _make_metrics(task: str, num_classes: int) -> torchmetrics.MetricCollection:
        if task == "classification":
            return torchmetrics.MetricCollection({"acc": torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")})
        return torchmetrics.MetricCollection({"mse": torchmetrics.MeanSquaredError(), "mae": torchmetrics.MeanAbsoluteError()})

    # ------------------------------------------------------------------ forward
    def forward(
        self, x: Tensor, *, return_details: bool = False, mask: Optional[Tensor] = None
    ) -> Tuple[DecoderOutput, SNNOutput]:
        """Encode ``x`` (static ``(B, ...)`` or spikes ``(B, T, ...)``), run the SNN, decode.

        ``mask (B, T)`` bool marks the valid steps of a ragged (padded) batch of sequences; the
        decoder and the probes then ignore the padded steps. Returns the decoder output
        (``logits_proxy (B, C)``, ``prediction (B,)``, ...) and the raw :class:`SNNOutput`
        (output sequence, per-layer spikes, membranes, probes). Outside training with
        ``stream_window = W`` set, the input is encoded once and the encoded spikes stream through
        the SNN in windows of W steps with carried state (same result, bounded memory).
        """
        spike_batch = self.encoder(x)  # encoded once, even when streamed
        if mask is not None:
            spike_batch = dataclasses.replace(spike_batch, mask=mask)  # validated (B, T) bool
        kwargs = dict(record_membrane=self.criterion.needs_membrane, keep_spikes=self.criterion.needs_layer_spikes)
        if self.stream_window is not None and not self.training and not return_details:
            out = run_streaming(self.net, spike_batch.spikes, self.stream_window, **kwargs)
        else:
            out = self.net(spike_batch.spikes, return_details=return_details, mask=mask, **kwargs)
        return self.decoder(out.output, mask), out

    def predict_step(self, batch: Any, batch_idx: int) -> DecoderOutput:
        """Decoded predictions of a batch ``x``, ``(x, y)`` or ``(x, y, mask)`` (streamed when
        ``stream_window`` is set)."""
        x, _, mask = split_batch(batch) if isinstance(batch, (tuple, list)) else (batch, None, None)
        return self(x, mask=mask)[0]

    def probe(self, x: Tensor, mask: Optional[Tensor] = None) -> SNNOutput:
        """Per-layer probes and spike trains of one batch, measured in eval mode without gradients."""
        with eval_mode(self):
            return self(x, return_details=True, mask=mask)[1]

    # ------------------------------------------------------------------ steps
    def _shared_step(self, batch: Tuple[Tensor, ...], stage: str) -> Tensor:
        x, y, mask = split_batch(batch)
        if stage == "train" and self.augment_shift:
            x = random_shift(x, self.augment_shift)  # (B, C, H, W) static images only
        decoded, out = self(x, mask=mask)
        inputs = LossInputs(
            output=out.output,
            decoded=decoded,
            targets=y,
            layer_spikes=out.layer_spikes,
            layer_membranes=out.layer_membranes,
            mask=mask,
        )
        total, info = self.criterion(inputs)
        if not torch.isfinite(total):
            components = {k: float(v) for k, v in info["components"].items()}
            raise FloatingPointError(
                f"{stage} loss is {float(total.detach())} at epoch {self.current_epoch}, step {self.global_step} "
                f"(components: {components}). Training stopped before writing a NaN checkpoint. Try a lower "
                f"optim.lr, a smaller snn.neuron.beta, gradient clipping (trainer.gradient_clip_val=1.0) or "
                f"debug=default (anomaly detection)."
            )
        on_step = stage == "train"
        batch_size = y.shape[0]
        self.log(f"{stage}/loss", total, on_step=on_step, on_epoch=not on_step, prog_bar=True, batch_size=batch_size, sync_dist=not on_step)
        for name, value in info["components"].items():
            self.log(f"{stage}/loss/{name}", torch.as_tensor(value, dtype=torch.float32), on_step=on_step, on_epoch=not on_step, batch_size=batch_size, sync_dist=not on_step)
        metrics = self.metrics[f"{stage}_metrics"]
        if self.task == "classification":
            metrics.update(decoded.prediction, y)
        else:
            metrics.update(decoded.logits_proxy.float(), y.float())
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "acc", batch_size=batch_size)
        return total

    def training_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.hparams.seed + _SEED_STRIDE * self.current_epoch + batch_idx)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        cfg = self.optim_cfg
        kwargs: Dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
        if cfg.optimizer is OptimizerName.sgd:
            kwargs["momentum"] = cfg.momentum
        optimizer = _OPTIMIZERS[cfg.optimizer](self.parameters(), **kwargs)
        scheduler = build_scheduler(optimizer, cfg, horizon(self._trainer, cfg))
        if scheduler is None:
            return optimizer
        interval = "step" if cfg.scheduler is SchedulerName.onecycle else "epoch"
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}

    def on_train_start(self) -> None:
        """A resumed run with another horizon (e.g. more ``trainer.max_epochs``) re-plans its schedule."""
        for config in self.trainer.lr_scheduler_configs:
            replan(config.scheduler, self.optim_cfg, horizon(self.trainer, self.optim_cfg))
