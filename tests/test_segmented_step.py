"""Issue 25 item 1: with ``snn.checkpoint_every`` the whole training step is segmented.

Every loss term that reads layer spikes or membranes accumulates its summary inside each
(recomputed) segment; the values and gradients must equal full BPTT computed from the whole layer
tensors (the terms' definitions), for every loss term and every decoder; the probes come from
running sums; and the peak memory of a step grows with the segment length, not with T.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import pytest
import torch

from brain_ai.config import DecodingConfig, EncodingConfig, LossConfig, OptimConfig, SNNConfig, to_dict
from brain_ai.core.losses import LossInputs
from brain_ai.core.memory import peak_bytes
from brain_ai.training.module import SNNLitModule
from brain_ai.training.plots import per_neuron_rates

BATCH, STEPS, FEATURES, EVERY = 4, 13, 6, 4  # 13 = 4 + 4 + 4 + 1: an uneven last segment


def make_module(
    every: Optional[int],
    loss: Dict[str, Any],
    decoding: Dict[str, Any],
    snn: Dict[str, Any],
    task: str = "classification",
    hidden: Tuple[int, ...] = (7, 5),
    outputs: int = 3,
) -> SNNLitModule:
    torch.manual_seed(0)
    decoder = DecodingConfig(**decoding)
    per_output = decoder.population_size if decoder.type.name == "population" else 1
    snn_cfg = SNNConfig(
        input_size=FEATURES, hidden_sizes=list(hidden), output_size=outputs * per_output, checkpoint_every=every, **snn
    )
    return SNNLitModule(
        to_dict(snn_cfg),
        to_dict(EncodingConfig(type="direct")),
        to_dict(decoder),
        to_dict(LossConfig(**loss)),
        to_dict(OptimConfig()),
        num_outputs=outputs,
        task=task,
        value_sequence=True,
    )


def whole_sequence_loss(model: SNNLitModule, x: torch.Tensor, y: torch.Tensor, mask: Optional[torch.Tensor]):
    """Full BPTT, every term reading the whole layer tensors (no summaries)."""
    out = model.net(model.encoder(x).spikes, keep_spikes=True, record_membrane=True, mask=mask)
    decoded = model.decoder(out.output, mask)
    return model.criterion(
        LossInputs(
            output=out.output,
            decoded=decoded,
            targets=y,
            layer_spikes=out.layer_spikes,
            layer_membranes=out.layer_membranes,
            mask=mask,
        )
    )


def segmented_loss(model: SNNLitModule, x: torch.Tensor, y: torch.Tensor, mask: Optional[torch.Tensor]):
    """The training step's path: the module's forward (summaries accumulated per segment)."""
    decoded, out = model(x, mask=mask)
    assert out.layer_spikes == {} and out.layer_membranes == {}  # nothing whole is kept
    return model.criterion(
        LossInputs(output=out.output, decoded=decoded, targets=y, mask=mask, layer_summaries=out.summaries)
    )


DEFAULT = dict(w_membrane=0.1)
CASES = {
    "default_loss_rate_decoder": (DEFAULT, {}, {}),
    "temporal_l1_window3": (dict(w_temporal=1.0, temporal_window=3, temporal_penalty="l1"), {}, {}),
    "temporal_l2_window2": (dict(w_temporal=1.0, temporal_window=2, temporal_penalty="l2"), {}, {}),
    "temporal_variance_window5": (dict(w_temporal=1.0, temporal_window=5, temporal_penalty="variance"), {}, {}),
    "isi_window6_crosses_segments": (dict(w_isi=1.0, isi_refractory_window=6, isi_tau=3.0), {}, {}),
    "rate_targets_per_layer": (dict(w_rate_reg=1.0, rate_targets={"layer1": 0.3}), {}, {}),
    "first_spike_task_and_decoder": (dict(DEFAULT, task_loss="first_spike"), dict(type="first_spike"), {}),
    "cross_entropy_rate": (dict(DEFAULT, task_loss="cross_entropy"), {}, {}),
    "cross_entropy_first_spike": (dict(DEFAULT, task_loss="cross_entropy"), dict(type="first_spike"), {}),
    "cross_entropy_population": (
        dict(DEFAULT, task_loss="cross_entropy"),
        dict(type="population", population_size=3),
        {},
    ),
    "cross_entropy_ensemble": (dict(DEFAULT, task_loss="cross_entropy"), dict(type="ensemble"), {}),
    **{
        f"membrane_decoder_{r}": (
            dict(DEFAULT, task_loss="cross_entropy"),
            dict(type="membrane", membrane_reduce=r),
            dict(readout="membrane"),
        )
        for r in ("final", "max", "mean")
    },
    "recurrent_adaptive_neurons": (DEFAULT, {}, dict(neuron={"type": "recurrent_adaptive_lif"})),
}


def _targets(task: str) -> torch.Tensor:
    return torch.rand(BATCH, 3) if task == "regression" else torch.tensor([0, 1, 2, 1])


def assert_same_step(
    loss: Dict[str, Any],
    decoding: Dict[str, Any],
    snn: Dict[str, Any],
    task: str = "classification",
    mask: Optional[torch.Tensor] = None,
) -> None:
    torch.manual_seed(1)
    x, y = (torch.rand(BATCH, STEPS, FEATURES) < 0.6).float(), _targets(task)
    results = []
    for every, run in ((None, whole_sequence_loss), (EVERY, segmented_loss)):
        model = make_module(every, loss, decoding, snn, task)
        total, info = run(model, x, y, mask)
        total.backward()
        results.append((total.detach(), info, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (full, full_info, full_grads), (seg, seg_info, seg_grads) = results
    torch.testing.assert_close(seg, full, rtol=1e-5, atol=1e-6)
    for name, value in full_info["components"].items():
        assert float(seg_info["components"][name]) == pytest.approx(float(value), rel=1e-5, abs=1e-7), name
    assert seg_grads.keys() == full_grads.keys() and full_grads
    for name, grad in full_grads.items():
        torch.testing.assert_close(seg_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_segmented_step_equals_full_bptt(case):
    assert_same_step(*CASES[case])


def test_segmented_regression_step_equals_full_bptt():
    assert_same_step(
        dict(DEFAULT, task_loss="mse"),
        dict(type="population", population_mode="regression", population_size=3),
        {},
        "regression",
    )


def test_segmented_step_with_ragged_mask_equals_full_bptt():
    mask = torch.ones(BATCH, STEPS, dtype=torch.bool)
    mask[1, 9:] = False
    mask[3, 5:] = False  # ends inside the second segment
    assert_same_step(dict(DEFAULT, w_isi=1.0, w_temporal=1.0, temporal_window=2), {}, {}, mask=mask)


def test_probes_from_running_sums_equal_whole_sequence_probes():
    model = make_module(EVERY, DEFAULT, {}, {})
    x = (torch.rand(BATCH, STEPS, FEATURES) < 0.6).float()
    whole = model.probe(x)  # return_details: one pass, whole spike trains
    segmented = model.probe(x, details=False)
    assert segmented.layer_spikes == {} and segmented.probes.keys() == whole.probes.keys() == {
        "layer0",
        "layer1",
        "layer2",
    }
    for layer, probes in whole.probes.items():
        torch.testing.assert_close(segmented.probes[layer], probes, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(segmented.neuron_rates[layer], per_neuron_rates(whole.layer_spikes[layer]))


def _step_peak(model: SNNLitModule, steps: int) -> int:
    torch.manual_seed(2)
    x, y = torch.rand(8, steps, FEATURES), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def step() -> None:
        total, _ = (
            segmented_loss(model, x, y, None)
            if model.snn_cfg.checkpoint_every
            else whole_sequence_loss(model, x, y, None)
        )
        total.backward()

    return peak_bytes(step)


def test_segmented_step_memory_grows_with_the_segment_not_with_T():
    """Default loss (rate / temporal / ISI regularisers) plus the membrane term: the peak of the
    checkpointed step grows far less with T than full BPTT's (only boundary states, per-segment
    sums, the (B, T) population rates and the (B, T, C) readout grow with T)."""
    growth = {}
    for every in (None, 5):
        model = make_module(every, DEFAULT, {}, {}, hidden=(64, 64))
        growth[every] = _step_peak(model, 80) - _step_peak(model, 40)
    assert growth[5] < 0.25 * growth[None], growth
