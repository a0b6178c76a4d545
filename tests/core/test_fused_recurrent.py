"""Recurrent adaptive LIF: numpy golden forward, fused whole-sequence gradients == the generic path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from framework_helpers import saved_bytes

from brain_ai.config import BETA_MAX, ConfigError, NeuronConfig, NeuronType, SNNConfig
from brain_ai.core import fused_recurrent
from brain_ai.core.fused_recurrent import fused_recurrent_sequence
from brain_ai.core.neurons import AdaptiveLIFNeuron, LeakyIntegrator, RecurrentAdaptiveLIFNeuron, build_neuron
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.snn import ConvSNN, SNNCore
from brain_ai.core.surrogates import SURROGATES


def np_reference(x, w, beta, rho, thr, alpha, reset):
    """The recurrence written out in numpy: x (B, T, N) -> spikes, final v, a, prev spikes."""
    b, steps, n = x.shape
    v, a, s = np.zeros((b, n)), np.zeros((b, n)), np.zeros((b, n))
    out = np.zeros_like(x)
    for t in range(steps):
        v = beta * v + x[:, t] + s @ w.T
        th = thr + alpha * a
        s = (v - th > 0).astype(np.float64)
        if reset == "subtract":
            v = v - s * th
        elif reset == "zero":
            v = v * (1 - s)
        a = rho * a + s
        out[:, t] = s
    return out, v, a, s


def make_neuron(reset="subtract", surrogate="atan", per_neuron=True, dtype=torch.float64, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = NeuronConfig(
        type=NeuronType.recurrent_adaptive_lif,
        reset=reset,
        surrogate=surrogate,
        learnable_beta=True,
        per_neuron_beta=per_neuron,
        learnable_adaptation=True,
        learnable_threshold=True,
        adaptation_alpha=0.4,
        threshold_shape="per_neuron" if per_neuron else "layer",
        threshold=0.8,
        **kw,
    )
    neuron = build_neuron(cfg, 5).to(dtype)
    with torch.no_grad():  # distinct per-neuron values, strong enough recurrence to matter
        neuron.w_rec.mul_(2.0)
        if per_neuron:
            neuron.beta_raw.copy_(torch.logit(torch.linspace(0.6, 0.95, 5, dtype=dtype) / BETA_MAX))
            neuron.adaptation_decay_raw.copy_(torch.logit(torch.linspace(0.7, 0.98, 5, dtype=dtype) / BETA_MAX))
            neuron.threshold_param.copy_(torch.linspace(0.6, 1.1, 5, dtype=dtype))
    return neuron


def run(neuron, x, state, backend, record="membrane", **kw):
    """Forward on fresh leaves; gradients of a loss that reads every output w.r.t. every input."""
    x = x.clone().requires_grad_()
    state = SpikingState(**{k: None if t is None else t.clone().requires_grad_() for k, t in state.items()})
    out, final, traces = neuron.forward_sequence(x, state, record=record, backend=backend, **kw)
    g = torch.Generator().manual_seed(7)
    w = lambda t: torch.randn(t.shape, generator=g, dtype=torch.float64).to(t)  # noqa: E731
    loss = (out * w(out)).sum() + (final.v * w(final.v)).sum() + (final.a * w(final.a)).sum()
    loss = loss + (final.prev_spk * w(final.prev_spk)).sum()
    if record == "membrane":
        loss = loss + (traces["membrane"] * w(traces["membrane"])).sum()
    leaves = [x, state.v, state.a, state.prev_spk, *[p for p in neuron.parameters()]]
    return (out, final, traces), torch.autograd.grad(loss, leaves)


def initial_state(neuron, batch, dtype, seed=3):
    g = torch.Generator().manual_seed(seed)
    return SpikingState(
        v=0.5 * torch.rand(batch, 5, generator=g, dtype=dtype),
        a=0.3 * torch.rand(batch, 5, generator=g, dtype=dtype),
        prev_spk=(torch.rand(batch, 5, generator=g) > 0.5).to(dtype),
    )


def assert_match(fused, eager, rtol):
    (out_f, st_f, tr_f), g_f = fused
    (out_e, st_e, tr_e), g_e = eager
    assert torch.equal(out_f, out_e)
    for k in ("v", "a", "prev_spk"):
        torch.testing.assert_close(getattr(st_f, k), getattr(st_e, k), rtol=0, atol=1e-12 if rtol < 1e-6 else 1e-6)
    assert set(tr_f) == set(tr_e)
    for k in tr_f:
        torch.testing.assert_close(tr_f[k], tr_e[k], rtol=0, atol=1e-12 if rtol < 1e-6 else 1e-6)
    assert len(g_f) == len(g_e) == 8  # x, v0, a0, s0 and the parameters beta, threshold, W_rec, rho
    for a, b in zip(g_f, g_e):
        scale = b.abs().max().clamp(min=1.0)
        assert (a - b).abs().max() <= rtol * scale, (a, b)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_numpy_golden_forward(reset):
    x = np.random.default_rng(0).random((2, 12, 5)) * 1.2
    neuron = RecurrentAdaptiveLIFNeuron(
        5, beta=0.8, threshold=0.9, reset=reset, adaptation_alpha=0.3, adaptation_decay=0.9
    ).double()
    with torch.no_grad():
        neuron.w_rec.mul_(3.0)
    beta, rho, thr = (float(t) for t in (neuron.beta, neuron.adaptation_decay, neuron.threshold))  # fp32 0.8 -> fp64
    ref_s, ref_v, ref_a, ref_p = np_reference(x, neuron.w_rec.detach().numpy(), beta, rho, thr, 0.3, reset)
    assert ref_s.sum() > 0 and (ref_s == 0).any()
    for backend in ("fused", "eager"):
        s, st, _ = neuron.forward_sequence(torch.tensor(x), backend=backend)
        np.testing.assert_array_equal(s.detach().numpy(), ref_s)
        np.testing.assert_allclose(st.v.detach().numpy(), ref_v, rtol=0, atol=1e-12)
        np.testing.assert_allclose(st.a.detach().numpy(), ref_a, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(st.prev_spk.detach().numpy(), ref_p)


@pytest.mark.parametrize("steps", [1, 13])
@pytest.mark.parametrize("per_neuron", [True, False], ids=["per_neuron", "layer"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("surrogate", ["atan", "fast_sigmoid", "triangle"])
def test_fused_gradients_equal_eager_float64(surrogate, reset, per_neuron, steps):
    neuron = make_neuron(reset, surrogate, per_neuron)
    x = 0.2 + 0.8 * torch.rand(3, steps, 5, dtype=torch.float64)
    state = initial_state(neuron, 3, torch.float64)
    fused, eager = run(neuron, x, state, "fused"), run(neuron, x, state, "eager")
    assert eager[0][0].sum() > 0
    assert_match(fused, eager, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_every_surrogate_float64(name):
    neuron = make_neuron("subtract", name)
    x = 0.2 + 0.8 * torch.rand(2, 9, 5, dtype=torch.float64)
    state = initial_state(neuron, 2, torch.float64)
    assert_match(
        run(neuron, x, state, "fused", record="none"), run(neuron, x, state, "eager", record="none"), rtol=1e-10
    )


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fused_gradients_equal_eager_float32(reset):
    neuron = make_neuron(reset, dtype=torch.float32)
    x = 0.2 + 0.8 * torch.rand(4, 30, 5)
    state = initial_state(neuron, 4, torch.float32)
    assert_match(run(neuron, x, state, "fused"), run(neuron, x, state, "eager"), rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_fused_gradients_equal_eager_on_cuda(dtype):
    neuron = make_neuron("subtract", dtype=dtype).cuda()
    x = 0.2 + 0.8 * torch.rand(4, 30, 5, dtype=dtype)
    state = initial_state(neuron, 4, dtype)
    on_cuda = SpikingState(**{k: None if t is None else t.cuda() for k, t in state.items()})
    fused = run(
        neuron, x.cuda(), on_cuda, "auto"
    )  # auto on CUDA: the fused PyTorch loop (Triton kernel not verified yet)
    assert_match(fused, run(neuron, x.cuda(), on_cuda, "eager"), rtol=1e-10 if dtype == torch.float64 else 1e-5)
    on_cpu = run(neuron.cpu(), x, state, "fused")
    assert torch.equal(fused[0][0].cpu(), on_cpu[0][0])
    for a, b in zip(fused[1], on_cpu[1]):
        torch.testing.assert_close(
            a.cpu(), b, rtol=1e-9 if dtype == torch.float64 else 1e-4, atol=1e-9 if dtype == torch.float64 else 1e-5
        )


@pytest.mark.gpu
def test_autocast_on_cuda_keeps_fp32_state():
    neuron = make_neuron(dtype=torch.float32).cuda()
    x = (0.2 + 0.8 * torch.rand(3, 10, 5)).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        s, st, tr = neuron.forward_sequence(x.bfloat16(), record="membrane")
    ref, _, ref_tr = neuron.forward_sequence(x.bfloat16().float(), record="membrane")
    assert s.dtype == torch.bfloat16 and st.v.dtype == st.a.dtype == torch.float32
    assert torch.equal(s.float(), ref) and torch.equal(tr["membrane"], ref_tr["membrane"])


def test_backward_spans_several_chunks(monkeypatch):
    monkeypatch.setattr(fused_recurrent, "_CHUNK_ELEMENTS", 40)  # 3 x 5 neurons per step -> chunks of 2 steps
    for reset in ("subtract", "zero", "none"):
        neuron = make_neuron(reset)
        x = 0.2 + 0.8 * torch.rand(3, 11, 5, dtype=torch.float64)
        state = initial_state(neuron, 3, torch.float64)
        assert_match(run(neuron, x, state, "fused"), run(neuron, x, state, "eager"), rtol=1e-10)


def test_truncation_and_checkpointing_match_eager():
    neuron = make_neuron()
    x = 0.2 + 0.8 * torch.rand(3, 14, 5, dtype=torch.float64)
    state = initial_state(neuron, 3, torch.float64)
    for kw in (dict(chunk_size=4), dict(checkpoint_every=5), dict(chunk_size=6, checkpoint_every=4)):
        assert_match(run(neuron, x, state, "fused", **kw), run(neuron, x, state, "eager", **kw), rtol=1e-10)


def test_split_run_with_carried_state_equals_one_run():
    neuron = make_neuron()
    x = 0.2 + 0.8 * torch.rand(2, 17, 5, dtype=torch.float64)
    whole, final, _ = neuron.forward_sequence(x, backend="fused")
    first, mid, _ = neuron.forward_sequence(x[:, :6], backend="fused")
    second, end, _ = neuron.forward_sequence(x[:, 6:], mid, backend="fused")
    assert torch.equal(torch.cat([first, second], 1), whole)
    for k in ("v", "a", "prev_spk"):
        assert torch.equal(getattr(end, k), getattr(final, k))


def test_auto_runs_the_fused_function_on_cpu_and_triton_is_an_error(monkeypatch):
    calls = []
    real = fused_recurrent_sequence
    monkeypatch.setattr(
        "brain_ai.core.neurons.lif.fused_recurrent_sequence", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    neuron = make_neuron(dtype=torch.float32)
    x = torch.rand(2, 6, 5)
    neuron.forward_sequence(x)
    neuron.forward_sequence(x, backend="eager")
    assert len(calls) == 1
    with pytest.raises(
        ConfigError,
        match=r"RecurrentAdaptiveLIFNeuron.forward_sequence: backend='triton' cannot run: tensors are on cpu",
    ):
        neuron.forward_sequence(x, backend="triton")  # the kernel runs CUDA tensors (or the interpreter's)
    synaptic = build_neuron(NeuronConfig(type="recurrent_adaptive_lif", synaptic=True), 5)
    with pytest.raises(
        ConfigError, match="backend='fused' cannot run: RecurrentAdaptiveLIFNeuron has a synaptic current"
    ):
        synaptic.forward_sequence(x, backend="fused")
    synaptic.forward_sequence(x)  # auto: the generic unroll


def test_autocast_keeps_fp32_state_and_matches_fp32():
    neuron = make_neuron(dtype=torch.float32)
    x = 0.2 + 0.8 * torch.rand(3, 10, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, st, tr = neuron.forward_sequence(x.bfloat16(), record="membrane")
    ref, ref_st, ref_tr = neuron.forward_sequence(x.bfloat16().float(), record="membrane")
    assert s.dtype == torch.bfloat16 and st.v.dtype == st.a.dtype == st.prev_spk.dtype == torch.float32
    assert torch.equal(s.float(), ref) and torch.equal(tr["membrane"], ref_tr["membrane"])


def test_saves_three_sequences():
    b, steps, n = 4, 40, 5
    neuron = make_neuron(dtype=torch.float32)
    x = torch.rand(b, steps, n, requires_grad=True)
    seq = b * steps * n * 4
    fused = saved_bytes(lambda: neuron.forward_sequence(x, backend="fused"))
    eager = saved_bytes(lambda: neuron.forward_sequence(x, backend="eager"))
    assert 3 * seq <= fused <= 3 * seq + 4 * (b * n + n * n + 3 * n) * 4  # h, a, spikes + states and parameters
    assert eager >= 5 * seq


def test_learnable_decays_stay_in_range_and_learn():
    neuron = make_neuron(dtype=torch.float32)
    assert {name for name, _ in neuron.named_parameters()} == {
        "beta_raw",
        "threshold_param",
        "w_rec",
        "adaptation_decay_raw",
    }
    assert neuron.adaptation_decay.shape == (5,) and neuron.beta.shape == (5,)
    opt = torch.optim.SGD(neuron.parameters(), lr=1e4)
    for step in range(3):
        opt.zero_grad()
        s, st, _ = neuron.forward_sequence(0.2 + torch.rand(2, 8, 5))
        (s.sum() + st.a.sum()).backward()
        assert step > 0 or neuron.adaptation_decay_raw.grad.abs().sum() > 0  # later steps saturate the sigmoid
        opt.step()
        for decay in (neuron.beta, neuron.adaptation_decay):
            assert bool(((decay >= 0) & (decay <= BETA_MAX)).all())


def test_config_errors():
    with pytest.raises(
        ConfigError,
        match="neuron.learnable_adaptation=true needs neuron.type=recurrent_adaptive_lif, got neuron.type=adaptive_lif",
    ):
        NeuronConfig(type="adaptive_lif", learnable_adaptation=True)
    with pytest.raises(ConfigError, match=r"neuron.adaptation_decay=0.0 is out of range; allowed: \(0.0, 0.999\)"):
        NeuronConfig(type="recurrent_adaptive_lif", learnable_adaptation=True, adaptation_decay=0.0)
    with pytest.raises(
        ValueError,
        match=r"RecurrentAdaptiveLIFNeuron: neuron.adaptation_decay=0.0 is out of range; allowed: \(0.0, 0.999\)",
    ):
        RecurrentAdaptiveLIFNeuron(4, adaptation_decay=0.0, learnable_adaptation=True)
    with pytest.raises(ValueError, match=r"size=\(2, 3\) must be a single int"):
        RecurrentAdaptiveLIFNeuron((2, 3))
    with pytest.raises(ValueError, match=r"w_rec has shape \(3, 3\), expected \(N, N\) = \(4, 4\)"):
        fused_recurrent_sequence(
            torch.rand(2, 3, 4), None, None, None, torch.zeros(3, 3), 0.9, 0.9, 1.0, 0.5, "subtract", None
        )


def test_networks_build_recurrent_dense_layers_and_a_learnable_readout():
    neuron = NeuronConfig(
        type="recurrent_adaptive_lif", learnable_beta=True, per_neuron_beta=True, learnable_adaptation=True
    )
    net = SNNCore(SNNConfig(input_size=3, hidden_sizes=[6, 4], output_size=2, readout="membrane", neuron=neuron))
    assert [type(n) for n in net.neurons] == [RecurrentAdaptiveLIFNeuron, RecurrentAdaptiveLIFNeuron, LeakyIntegrator]
    assert net.neurons[-1].beta.shape == (2,) and net.neurons[-1].beta_raw.requires_grad
    x = torch.rand(2, 9, 3)
    out = net(x)
    out.output.sum().backward()
    assert net.neurons[-1].beta_raw.grad is not None and net.neurons[0].adaptation_decay_raw.grad is not None
    first, second = net(x[:, :4]), None
    second = net(x[:, 4:], first.final_states)
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), out.output, rtol=0, atol=1e-6)
    conv = ConvSNN(SNNConfig(input_shape=[1, 4, 4], conv_channels=[2], hidden_sizes=[3], output_size=2, neuron=neuron))
    kinds = [type(n) for n in conv.neurons]
    assert kinds == [AdaptiveLIFNeuron, RecurrentAdaptiveLIFNeuron, AdaptiveLIFNeuron]  # conv block and spiking readout
    assert conv(torch.rand(2, 3, 1, 4, 4)).output.shape == (2, 3, 2)


def test_time_loops_run_on_one_thread_and_restore_the_callers_count(monkeypatch):
    seen = []
    real_mm = torch.mm

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_mm(*args, **kwargs)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        neuron = make_neuron(dtype=torch.float32)
        x = torch.rand(2, 5, 5, requires_grad=True)
        monkeypatch.setattr(fused_recurrent.torch, "mm", spy)
        s, _, _ = neuron.forward_sequence(x, backend="fused")
        s.sum().backward()
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def spatial_grads(neuron, x, state, backend):
    """Gradients of a loss on every output (spikes, membranes, the final state) with ``spatial=True``
    (the online rules' run): the input, the initial state and every parameter."""
    x = x.clone().requires_grad_()
    initial = {k: t.clone().requires_grad_() for k, t in state.items()}
    out, final, traces = neuron._run_sequence(
        x, SpikingState(**initial), None, None, "membrane", backend, True, spatial=True
    )
    g = torch.Generator().manual_seed(7)
    w = lambda t: torch.randn(t.shape, generator=g, dtype=torch.float64).to(t)  # noqa: E731
    loss = (out * w(out)).sum() + (traces["membrane"] * w(traces["membrane"])).sum()
    loss = loss + sum(
        (t * w(t)).sum()
        for t in (final.v, getattr(final, "a", None), getattr(final, "prev_spk", None))
        if t is not None
    )
    leaves = [x, *initial.values(), *neuron.parameters()]
    return out, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("backend", ["fused", "compiled"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_spatial_backward_equals_the_steps_with_the_state_detached(backend, reset):
    """The online rules' spatial-only backward of the whole-sequence Function (every step at once) equals
    the step-by-step run whose state is detached at every step: input, parameters (W_rec, beta, rho,
    threshold) and no gradient to the initial state."""
    neuron = make_neuron(reset=reset)
    x = torch.randn(3, 9, 5, dtype=torch.float64) * 1.5
    state = {k: torch.rand(3, 5, dtype=torch.float64) for k in ("v", "a")}
    state["prev_spk"] = (torch.rand(3, 5) < 0.5).double()
    out, got = spatial_grads(neuron, x, state, backend)
    ref_out, want = spatial_grads(neuron, x, state, "eager")
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    assert out.sum() > 0 and out.sum() < out.numel()  # spikes and silence: the surrogate and the reset both act
    for a, b in zip(got, want):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert got[1] is None and want[1] is None  # the initial membrane: a constant


def test_spatial_backward_of_the_readout_equals_the_steps_with_the_state_detached():
    """The leaky-integrator readout: ``Dx_t = g_t``, ``dbeta = sum g_t v_{t-1}``, nothing to ``v0``."""
    torch.manual_seed(0)
    readout = LeakyIntegrator(4, NeuronConfig(beta=0.8, learnable_beta=True, per_neuron_beta=True)).double()
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    state = {"v": torch.rand(2, 4, dtype=torch.float64)}
    out, got = spatial_grads(readout, x, state, "fused")
    ref_out, want = spatial_grads(readout, x, state, "eager")
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    assert got[1] is None and want[1] is None
    for a, b in zip(got, want):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
