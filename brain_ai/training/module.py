"""The LightningModule: encode -> SNN -> decode -> loss, with metrics, optimiser and scheduler.

Hyper-parameters are saved as plain primitives (dicts of str/int/float/bool/None made by
:func:`brain_ai.config.to_dict`), so ``SNNLitModule.load_from_checkpoint(path)`` works with
``torch.load(weights_only=True)`` -- no DictConfig, Enum, partial or module is pickled.

Randomness: the module never touches the global torch RNG per batch. Every training batch
draws its encoder spikes, dropout masks and shift offsets from a generator on the batch's device,
seeded with the next number of the module's *seed stream* (a CPU ``torch.Generator`` seeded once
with ``encoding.seed``, or ``seed`` when that is null, and saved in checkpoints as
``brain_ai_seed_stream``), so a resumed run draws what an uninterrupted one would. Evaluation
batches that sample (``encoding.deterministic_eval=false``) draw from seed ``stream seed +
batch_idx``: the same every epoch.

Host syncs: a training step reads nothing back from the device for its own bookkeeping. The loss
and its terms are logged as tensors; whether the loss is finite is recorded on the device
(:class:`~brain_ai.core.deferred_check.DeferredCheck`) and read every ``check_finite_every_n_steps``
steps and on the last batch of each epoch (before its validation and checkpoints), naming the
first non-finite step. Evaluation steps read it every batch.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import lightning as L
import torch
import torchmetrics
from torch import Tensor

from brain_ai.config import (
    ONLINE_RULES,
    ConfigError,
    DataConfig,
    DecodingConfig,
    EncodingConfig,
    LossConfig,
    OptimConfig,
    OptimizerName,
    SchedulerName,
    SNNConfig,
    Task,
    check_range,
    coerce_enum,
    from_dict,
    to_dict,
)
from brain_ai.core.decoding import ClassificationOutput, DecoderOutput, build_decoder
from brain_ai.core.deferred_check import DeferredCheck
from brain_ai.core.encoding import build_encoder
from brain_ai.core.learning_rules import OnlineLearner
from brain_ai.core.losses import REGULARIZERS, LossInputs, SNNLossComposer, build_loss
from brain_ai.core.memory import StepFactory, probe_spikes
from brain_ai.core.neurons.psn import follow_mask_schedule
from brain_ai.core.snn import SNNOutput, build_snn, run_streaming, with_synaptic_default
from brain_ai.core.summaries import LayerSummary
from brain_ai.data.ragged import split_batch
from brain_ai.training.schedules import build_scheduler, horizon, replan

log = logging.getLogger(__name__)

#: checkpoint key of the seed stream's state (a uint8 tensor: loads with weights_only=True)
SEED_STREAM_KEY = "brain_ai_seed_stream"
#: the stages that log metrics, ``<stage>/...``; :data:`FIT_STAGES` log while fitting (what a
#: checkpoint callback can monitor), ``test`` after it
STAGES = ("train", "val", "test")
FIT_STAGES = STAGES[:2]
#: batch seeds are drawn in [0, 2**62); data-parallel rank r adds r * this (mod 2**62)
_RANK_STRIDE = 0x9E3779B97F4A7C15
_SEED_RANGE = 2**62

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
        snn, encoding, decoding, loss, optim: the validated :class:`SNNConfig`,
            :class:`EncodingConfig`, :class:`DecodingConfig`, :class:`LossConfig`,
            :class:`OptimConfig` (e.g. of a :class:`~brain_ai.app.run_spec.RunSpec`), or their plain
            dicts (``to_dict`` output, as a checkpoint stores them); ``snn`` must have its
            input/output sizes set.
        num_outputs: what the model predicts per sample: classes (``task=classification``,
            targets ``int64`` class indices ``(B,)``) or regressed values (``task=regression``,
            targets ``(B, D)`` float).
        task: a :class:`~brain_ai.config.Task` or its name; the decoder must return its output
            type (classification: :class:`ClassificationOutput`, regression: ``RegressionOutput``).
        seed: the run's seed; seeds the training-time randomness unless ``encoding.seed`` is set
            (module docstring).
        data: the :class:`~brain_ai.config.DataConfig` (or its dict), stored only so that
            ``evaluate.py`` can rebuild the data.
        value_sequence: the data are real-valued sequences ``(B, T, *F)`` (the data set's
            ``DatasetInfo.is_value_sequence``): the encoder takes them with their own T.
        batch_transform: the data's transform of every training batch (``transform(x, generator)``,
            e.g. the shift augmentation: ``BrainDataModule.train_batch_transform()``), or None;
            training only, not saved (no state).
        check_finite_every_n_steps: how often a training step reads whether the loss stayed finite
            (one host sync; module docstring); not a hyper-parameter (it does not change the model).
        num_classes: deprecated name of ``num_outputs`` (checkpoints written before it was
            renamed); warns, removed in the next release.
    """

    def __init__(
        self,
        snn: "SNNConfig | Dict[str, Any]",
        encoding: "EncodingConfig | Dict[str, Any]",
        decoding: "DecodingConfig | Dict[str, Any]",
        loss: "LossConfig | Dict[str, Any]",
        optim: "OptimConfig | Dict[str, Any]",
        num_outputs: Optional[int] = None,
        task: "str | Task" = Task.classification.name,
        seed: int = 0,
        data: "DataConfig | Dict[str, Any] | None" = None,
        num_classes: Optional[int] = None,
        check_finite_every_n_steps: int = 50,
        value_sequence: bool = False,
        batch_transform: Optional[torch.nn.Module] = None,
    ) -> None:
        super().__init__()
        num_outputs = _renamed_num_outputs(num_outputs, num_classes)
        if isinstance(encoding, dict):
            encoding, value_sequence = _moved_sequence_input(encoding, value_sequence)
        self.task = coerce_enum("SNNLitModule", "task", task, Task)
        check_range("SNNLitModule", "seed", seed, low=0, integer=True)
        check_range("SNNLitModule", "check_finite_every_n_steps", check_finite_every_n_steps, low=1, integer=True)
        self.encoding_cfg = _typed(EncodingConfig, encoding)
        # stored resolved, so a checkpoint's readers (NIR export, resume checks) build the same network
        snn = with_synaptic_default(_typed(SNNConfig, snn), self.encoding_cfg)
        self.save_hyperparameters(
            dict(
                snn=_plain(snn),
                encoding=_plain(encoding),
                decoding=_plain(decoding),
                loss=_plain(loss),
                optim=_plain(optim),
                num_outputs=num_outputs,
                task=self.task.name,
                seed=seed,
                data=_plain(data),
                value_sequence=value_sequence,
            )
        )
        self.decoding_cfg = _typed(DecodingConfig, decoding)
        self.loss_cfg = _typed(LossConfig, loss)
        self.optim_cfg = _typed(OptimConfig, optim)
        self.batch_transform = batch_transform
        self.snn_cfg = snn
        self.encoder = build_encoder(self.encoding_cfg, value_sequence)
        self.net = build_snn(self.snn_cfg)
        self.decoder = build_decoder(self.decoding_cfg, num_outputs)
        if self.decoder.task is not self.task:
            raise ConfigError(
                f"decoding.type={self.decoding_cfg.type.name} (population_mode={self.decoding_cfg.population_mode.name}) "
                f"decodes {self.decoder.task.name}, but task={self.task.name}"
            )
        self.criterion = build_loss(self.loss_cfg)
        check_segmentable(self.criterion, self.snn_cfg)
        # keys get a suffix: "train" would clash with nn.Module.train
        self.metrics = torch.nn.ModuleDict(
            {f"{stage}_metrics": self._make_metrics(self.task, num_outputs) for stage in STAGES}
        )
        #: outside training, run the SNN in windows of this many steps with carried state (None: one pass)
        self.stream_window: Optional[int] = None
        #: seed of the seed stream and of the evaluation batches
        self.stream_seed = seed if self.encoding_cfg.seed is None else self.encoding_cfg.seed
        self.seed_stream = torch.Generator().manual_seed(self.stream_seed)
        self._batch_generators: Dict[torch.device, torch.Generator] = {}
        self.check_finite_every_n_steps = check_finite_every_n_steps
        #: non-finite losses, recorded without a host sync (read by :meth:`_stop_on_nonfinite_loss`)
        self.nonfinite_loss = DeferredCheck()

    @staticmethod
    def _make_metrics(task: Task, num_outputs: int) -> torchmetrics.MetricCollection:
        if task is Task.classification:
            return torchmetrics.MetricCollection(
                {"acc": torchmetrics.classification.MulticlassAccuracy(num_outputs, average="micro")}
            )
        return torchmetrics.MetricCollection(
            {"mse": torchmetrics.MeanSquaredError(), "mae": torchmetrics.MeanAbsoluteError()}
        )

    def logged_metrics(self, stages: Sequence[str] = STAGES) -> List[str]:
        """The names :meth:`_shared_step` logs in ``stages``: ``<stage>/loss``, one
        ``<stage>/loss/<term>`` per loss term and ``<stage>/<metric>`` (e.g. ``val/acc``)."""
        names = []
        for stage in stages:
            names += [f"{stage}/loss", *(f"{stage}/loss/{term}" for term in self.criterion.terms)]
            names += [f"{stage}/{name}" for name in self.metrics[f"{stage}_metrics"]]
        return names

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        x: Tensor,
        *,
        return_details: bool = False,
        mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
        probes: bool = False,
    ) -> Tuple[DecoderOutput, SNNOutput]:
        """Encode ``x`` (static ``(B, ...)`` or spikes ``(B, T, ...)``), run the SNN, decode.

        ``mask (B, T)`` bool marks the valid steps of a ragged (padded) batch of sequences; the
        decoder and the probes then ignore the padded steps. Returns the decoder output (a
        :class:`~brain_ai.core.decoding.ClassificationOutput` with ``logits_proxy (B, C)``,
        ``prediction (B,)``, or a ``RegressionOutput`` with ``estimate (B, D)``) and the raw
        :class:`SNNOutput` (output sequence, the loss terms' per-layer summaries, probes; whole
        per-layer spikes and membranes with ``return_details``). ``probes``: per-layer probes from
        running sums only (no whole layer tensor kept). ``generator``
        (on ``x``'s device) draws the encoder's spikes and the dropout masks; None = the encoder's
        own (``encoding.seed``) or the global RNG. Outside training with ``stream_window = W``
        set, the input is encoded once and the encoded spikes stream through the SNN in windows of
        W steps with carried state (same result, bounded memory).
        """
        spike_batch = self.encoder(x, generator=generator)  # encoded once, even when streamed
        if mask is not None:
            spike_batch = dataclasses.replace(spike_batch, mask=mask)  # validated (B, T) bool
        return self.run_network(
            spike_batch.spikes, return_details=return_details, mask=mask, generator=generator, probes=probes
        )

    def run_network(
        self,
        spikes: Tensor,
        *,
        return_details: bool = False,
        mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
        probes: bool = False,
    ) -> Tuple[DecoderOutput, SNNOutput]:
        """:meth:`forward` after the encoder: the network on encoded ``spikes (B, T, ...)``, then the decoder.
        Only a spiking network records spikes, membranes, summaries and probes (:mod:`brain_ai.core.ann` has none)."""
        if self.stream_window is not None and not self.training and not return_details and not probes:
            # the windows are separate calls: every term reads the joined whole layer tensors
            spiking = self.net.spiking
            kwargs = dict(record_membrane=self.criterion.needs_membrane, keep_spikes=self.criterion.needs_layer_spikes)
            out = run_streaming(self.net, spikes, self.stream_window, **(kwargs if spiking else {}))
        elif not self.net.spiking:
            out = self.net(spikes, return_details=return_details, generator=generator)
        else:
            whole = self.criterion.whole_layer_terms  # the others read segment-wise summaries
            out = self.net(
                spikes,
                return_details=return_details,
                mask=mask,
                generator=generator,
                summaries=self.criterion.summaries,
                probes=probes,
                record_membrane=any(t.needs_membrane for t in whole),
                keep_spikes=any(t.needs_layer_spikes for t in whole),
            )
        return self.decoder(out.output, mask), out

    def loss_of(
        self, decoded: DecoderOutput, out: SNNOutput, targets: Tensor, mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Dict[str, Any]]:
        """``(total, info)`` of the loss composer for one forward's ``decoded`` / ``out``."""
        inputs = LossInputs(
            output=out.output,
            decoded=decoded,
            targets=targets,
            layer_spikes=out.layer_spikes,
            layer_membranes=out.layer_membranes,
            mask=mask,
            layer_summaries=out.summaries,
        )
        return self.criterion(inputs)

    def predict_step(self, batch: Any, batch_idx: int) -> DecoderOutput:
        """Decoded predictions of a batch ``x``, ``(x, y)`` or ``(x, y, mask)`` (streamed when
        ``stream_window`` is set)."""
        x, _, mask = split_batch(batch) if isinstance(batch, (tuple, list)) else (batch, None, None)
        return self(x, mask=mask)[0]

    def probe(self, x: Tensor, mask: Optional[Tensor] = None, details: bool = True) -> SNNOutput:
        """Per-layer probes of one batch, measured in eval mode without gradients: with ``details``
        also the whole spike trains, membranes and input (``return_details``); without, only the
        probes and neuron rates, from running sums segment by segment (``snn.checkpoint_every``
        steps at a time: no layer's whole spike train is kept)."""
        with eval_mode(self):
            return self(x, return_details=details, probes=True, mask=mask)[1]

    # ------------------------------------------------------------------ steps
    def batch_generator(self, device: torch.device, stage: str, batch_idx: int) -> torch.Generator:
        """The generator (on ``device``) that one batch draws from: training batches get the next
        seed of :attr:`seed_stream` (rank-shifted under data parallelism), evaluation batches
        ``stream_seed + batch_idx``."""
        if stage == "train":
            seed = int(torch.randint(0, _SEED_RANGE, (), generator=self.seed_stream))
            seed = (seed + _RANK_STRIDE * self.global_rank) % _SEED_RANGE
        else:
            seed = self.stream_seed + batch_idx
        if device not in self._batch_generators:
            self._batch_generators[device] = torch.Generator(device=device)
        return self._batch_generators[device].manual_seed(seed)

    def _shared_step(self, batch: Tuple[Tensor, ...], stage: str, batch_idx: int) -> Tensor:
        x, y, mask = split_batch(batch)
        generator = self.batch_generator(x.device, stage, batch_idx)
        if stage == "train" and self.batch_transform is not None:
            x = self.batch_transform(x, generator)
        if stage == "train" and self.snn_cfg.learning_rule in ONLINE_RULES:
            decoded, total, info = self._online_step(x, y, mask, generator)
        else:
            decoded, out = self(x, mask=mask, generator=generator)
            total, info = self.loss_of(decoded, out, y, mask)
        components: Dict[str, Tensor] = info["components"]  # type: ignore[assignment]
        self.nonfinite_loss.update(
            ~torch.isfinite(total),
            torch.stack([total.detach().float(), *components.values()]),
            (stage, self.current_epoch, self.global_step),
        )
        if stage != "train" or self._finite_check_due(batch_idx):
            self._stop_on_nonfinite_loss(list(components))
        on_step = stage == "train"
        batch_size = y.shape[0]
        self.log(
            f"{stage}/loss",
            total,
            on_step=on_step,
            on_epoch=not on_step,
            prog_bar=True,
            batch_size=batch_size,
            sync_dist=not on_step,
        )
        for name, value in components.items():
            self.log(
                f"{stage}/loss/{name}",
                value,
                on_step=on_step,
                on_epoch=not on_step,
                batch_size=batch_size,
                sync_dist=not on_step,
            )
        metrics = self.metrics[f"{stage}_metrics"]
        if isinstance(decoded, ClassificationOutput):
            metrics.update(decoded.prediction, y)
        else:
            metrics.update(decoded.estimate.detach().float(), y.float())
        for name, metric in metrics.items():
            self.log(
                f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "acc", batch_size=batch_size
            )
        return total

    def _finite_check_due(self, batch_idx: int) -> bool:
        """Whether this training step reads :attr:`nonfinite_loss`: every :attr:`check_finite_every_n_steps`
        steps and on the last batch of an epoch (before its validation and checkpoints)."""
        trainer = self._trainer
        if trainer is None:
            return True
        last = batch_idx + 1 >= trainer.num_training_batches
        return last or (self.global_step + 1) % self.check_finite_every_n_steps == 0

    def _stop_on_nonfinite_loss(self, names: List[str]) -> None:
        """Raise ``FloatingPointError`` naming the first step since the last read whose loss was not finite."""
        found = self.nonfinite_loss.read()
        if found is None:
            return
        (stage, epoch, step), (total, *values) = found
        components = dict(zip(names, values))
        raise FloatingPointError(
            f"{stage} loss is {total} at epoch {epoch}, step {step} (components: {components}). Training stopped before "
            f"writing a NaN checkpoint. Try a lower optim.lr, a smaller snn.neuron.beta, gradient clipping "
            f"(trainer.gradient_clip_val=1.0) or debug=default (anomaly detection)."
        )

    def _online_step(
        self, x: Tensor, y: Tensor, mask: Optional[Tensor], generator: torch.Generator
    ) -> Tuple[DecoderOutput, Tensor, Dict[str, Any]]:
        """A training batch under ``snn.learning_rule`` ottt / sltt: the decoded (detached) output,
        the loss to backpropagate (:meth:`OnlineLearner.carrier`: the gradient accumulated step by
        step) and the loss info."""
        rule = self.snn_cfg.learning_rule
        if mask is not None:
            raise ValueError(
                f"snn.learning_rule={rule.name} does not support ragged batches (a (B, T) mask): "
                f"its loss runs step by step; allowed: snn.learning_rule=bptt"
            )
        learner = OnlineLearner(
            rule,
            list(self.parameters()),
            self.decoder,
            self.criterion,
            y,
            window=self.snn_cfg.online_window,
            sltt_steps=self.snn_cfg.sltt_steps,
            generator=generator,
        )
        # each step's spikes and membranes, for the learner's per-step loss terms (kept one step at a time)
        steps = dict(record_membrane=self.criterion.needs_membrane, keep_spikes=self.criterion.needs_layer_spikes)
        self.net(self.encoder(x, generator=generator).spikes, generator=generator, online=learner, **steps)
        # online learning keeps only the output's mean over time, which the decoders it allows read exactly
        return self.decoder(learner.mean_output()), learner.carrier(), learner.info()

    def training_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train", batch_idx)

    def validation_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val", batch_idx)

    def test_step(self, batch: Tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test", batch_idx)

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        checkpoint[SEED_STREAM_KEY] = self.seed_stream.get_state()

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """Continue the checkpoint's seed stream (checkpoints written before it existed keep a fresh one)."""
        if SEED_STREAM_KEY in checkpoint:
            self.seed_stream.set_state(checkpoint[SEED_STREAM_KEY])

    # ------------------------------------------------------------------ optimisation
    def build_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser of ``optim`` over the module's parameters."""
        cfg = self.optim_cfg
        kwargs: Dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
        if cfg.optimizer is OptimizerName.sgd:
            kwargs["momentum"] = cfg.momentum
        return _OPTIMIZERS[cfg.optimizer](self.parameters(), **kwargs)

    def configure_optimizers(self) -> Any:
        cfg = self.optim_cfg
        optimizer = self.build_optimizer()
        scheduler = build_scheduler(optimizer, cfg, horizon(self._trainer, cfg))
        if scheduler is None:
            return optimizer
        interval = "step" if cfg.scheduler is SchedulerName.onecycle else "epoch"
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}

    def on_train_epoch_start(self) -> None:
        """Masked PSN layers move their mask along its ramp (``snn.neuron.psn_mask_ramp_epochs``)."""
        follow_mask_schedule(self.net, self.current_epoch)

    def on_train_start(self) -> None:
        """Log the neuron backends on the training device; a resumed run with another horizon (e.g.
        more ``trainer.max_epochs``) re-plans its schedule."""
        if self.net.spiking:  # LSTM / GRU have no neuron layers
            log.info("neuron backends on %s: %s", self.device, self.net.backend_summary())
        for config in self.trainer.lr_scheduler_configs:
            replan(config.scheduler, self.optim_cfg, horizon(self.trainer, self.optim_cfg))


def _typed(cls: type, config: Any) -> Any:
    """``config`` if it is a ``cls``, else the ``cls`` of its plain dict (checkpoint hyper-parameters)."""
    return config if isinstance(config, cls) else from_dict(cls, config)


def _plain(config: Any) -> Any:
    """A config dataclass as its plain dict (:func:`~brain_ai.config.to_dict`: what the hyper-parameters
    store); a dict or None as it is."""
    return to_dict(config) if dataclasses.is_dataclass(config) else config


def _moved_sequence_input(encoding: Dict[str, Any], value_sequence: bool) -> Tuple[Dict[str, Any], bool]:
    """``encoding`` without ``sequence_input`` and ``value_sequence``: checkpoints written before
    ``encoding.sequence_input`` was removed store it there (true for their data=smnist runs)."""
    if "sequence_input" not in encoding:
        return encoding, value_sequence
    encoding = dict(encoding)
    return encoding, bool(encoding.pop("sequence_input")) or value_sequence


def training_step_factory(make_module: Callable[[SNNConfig], "SNNLitModule"]) -> StepFactory:
    """A :data:`~brain_ai.core.memory.StepFactory` of the real training step: the module that
    ``make_module(snn_cfg)`` builds, on random encoded spikes ``(B, T, *input)`` and targets: the
    SNN with the loss terms' summaries, the decoder, every loss term, backward and an optimiser
    step (what ``snn.memory_budget_mb`` fits; the encoder's own memory is not included)."""

    def make(cfg: SNNConfig, batch_size: int, time_steps: int) -> Callable[[], None]:
        module = make_module(cfg).train()
        optimizer = module.build_optimizer()
        generator = torch.Generator().manual_seed(0)
        spikes = probe_spikes(cfg, batch_size, time_steps, generator)
        if module.task is Task.classification:
            targets = torch.randint(0, module.decoder.num_outputs, (batch_size,), generator=generator)
        else:
            targets = torch.rand(batch_size, module.decoder.num_outputs, generator=generator)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            decoded, out = module.run_network(spikes)
            module.loss_of(decoded, out, targets)[0].backward()
            optimizer.step()

        return step

    return make


def check_segmentable(criterion: SNNLossComposer, snn: SNNConfig) -> None:
    """Raise ``ConfigError`` when ``snn.checkpoint_every`` (or ``snn.memory_budget_mb``, which
    picks it) is set and a loss term reads whole layer tensors (it has no segment-wise
    :class:`~brain_ai.core.summaries.LayerSummary`): segmenting would keep them whole anyway."""
    whole = criterion.whole_layer_terms
    field_name, value = (
        ("checkpoint_every", snn.checkpoint_every)
        if snn.memory_budget_mb is None
        else ("memory_budget_mb", snn.memory_budget_mb)
    )
    if value is None or not whole:
        return
    segmented = [cls.name for cls in REGULARIZERS.values() if issubclass(cls, LayerSummary)]
    raise ConfigError(
        f"snn.{field_name}={value} cannot segment the loss term(s) {[t.name for t in whole]}: they read every layer's whole spike "
        f"train or membrane; allowed: loss terms with a segment-wise summary ({', '.join(segmented)}) or the "
        f"task terms, or snn.{field_name}=null (full BPTT)"
    )


def _renamed_num_outputs(num_outputs: Optional[int], num_classes: Optional[int]) -> int:
    """``num_outputs``, or the deprecated ``num_classes`` (with a FutureWarning); exactly one must be given."""
    if num_classes is not None:
        if num_outputs is not None:
            raise ConfigError(
                f"SNNLitModule: num_classes={num_classes!r} (deprecated) and num_outputs={num_outputs!r} are both set; set only num_outputs"
            )
        warnings.warn(
            "SNNLitModule: num_classes is deprecated and will be removed in the next release; use num_outputs "
            "(classes, or regressed values)",
            FutureWarning,
            stacklevel=3,
        )
        num_outputs = num_classes
    if num_outputs is None:
        raise ConfigError("SNNLitModule: num_outputs is required (classes, or regressed values)")
    check_range("SNNLitModule", "num_outputs", num_outputs, low=1, integer=True)
    return num_outputs
