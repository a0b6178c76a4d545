"""Golden trajectories of every neuron variant against a few lines of numpy; module == pure step."""

import numpy as np
import pytest
import torch

from brain_ai.config import PSN_TYPES, NeuronConfig, NeuronType, ResetMode
from brain_ai.core.neurons import (
    AdaptiveLIFNeuron,
    AdvancedLIFNeuron,
    LeakyIntegrator,
    LIFNeuron,
    RecurrentAdaptiveLIFNeuron,
    RecurrentLIFNeuron,
    SpikingState,
    adaptive_lif_step,
    build_neuron,
    delayed_input,
    leaky_integrator_step,
    lif_step,
    recurrent_lif_step,
)


def np_reference(x, beta, thr, reset="subtract", syn=None, refr=0, adapt=None, w_rec=None, delay=None, syn_rise=None):
    """Reference dynamics in numpy. x (B, T, N) -> spikes, membranes (B, T, N)."""
    b, t_len, n = x.shape
    v, i, a, ref, prev, r = (np.zeros((b, n)) for _ in range(6))
    d_max = 0 if delay is None else int(np.ceil(delay.max())) + 1
    hist = np.zeros((b, d_max + 1, n))
    spikes, mems = [], []
    for t in range(t_len):
        xt = x[:, t]
        if w_rec is not None:
            xt = xt + prev @ w_rec.T
        if delay is not None:
            hist = np.concatenate([xt[:, None], hist[:, :-1]], axis=1)
            lo = np.floor(delay).astype(int)
            hi = np.minimum(lo + 1, d_max)
            f = delay - lo
            cols = np.arange(n)
            xt = (1 - f) * hist[:, lo, cols] + f * hist[:, hi, cols]
        if syn_rise is not None:  # alpha kernel: the rise stage feeds the synaptic current
            r = syn_rise * r + xt
            xt = r
        if syn is not None:
            i = syn * i + xt
            xt = i
        ready = (ref == 0).astype(float)
        if refr:
            xt = xt * ready
        v = beta * v + xt
        th = thr + adapt[0] * a if adapt else thr
        s = (v - th > 0).astype(float)
        if refr:
            s = s * ready
            ref = np.where(s > 0, refr, np.maximum(ref - 1, 0))
        if reset == "subtract":
            v = v - s * th
        elif reset == "zero":
            v = v * (1 - s)
        if adapt:
            a = adapt[1] * a + s
        prev = s
        spikes.append(s)
        mems.append(v)
    return np.stack(spikes, 1), np.stack(mems, 1)


def _input(b=3, t=20, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (0.8 * torch.randn(b, t, n, generator=g, dtype=torch.float64) + 0.45).abs()


def _run(neuron, x):
    neuron = neuron.double()
    spikes, final, traces = neuron.forward_sequence(x, record="membrane")
    return spikes.detach().numpy(), traces["membrane"].detach().numpy(), final


def _np(t):
    return t.detach().double().numpy()


def test_lif_hand_computed_values():
    lif = LIFNeuron(1, beta=0.5, threshold=1.0).double()
    x = torch.full((1, 5, 1), 0.6, dtype=torch.float64)
    s, _, tr = lif.forward_sequence(x, record="membrane")
    # v: 0.6, 0.9, 1.05 -> spike -> 0.05, 0.625, 0.9125
    assert s.flatten().tolist() == [0, 0, 1, 0, 0]
    np.testing.assert_allclose(tr["membrane"].flatten().numpy(), [0.6, 0.9, 0.05, 0.625, 0.9125], rtol=1e-12)


@pytest.mark.parametrize("refr", [0, 2])
@pytest.mark.parametrize("synaptic", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_golden(reset, synaptic, refr):
    lif = LIFNeuron(
        6, beta=0.85, threshold=0.9, reset=reset, synaptic=synaptic, synaptic_beta=0.6, refractory_steps=refr
    )
    x = _input()
    s, v, final = _run(lif, x)
    s_ref, v_ref = np_reference(x.numpy(), _np(lif.beta), _np(lif.threshold), reset, 0.6 if synaptic else None, refr)
    assert s.sum() > 0
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    assert (final.ref is not None) == bool(refr) and (final.i is not None) == synaptic


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_adaptive_lif_golden(reset):
    n = AdaptiveLIFNeuron(6, beta=0.9, threshold=0.8, reset=reset, adaptation_alpha=0.3, adaptation_decay=0.9)
    x = _input(seed=1)
    s, v, final = _run(n, x)
    s_ref, v_ref = np_reference(x.numpy(), _np(n.beta), _np(n.threshold), reset, adapt=(0.3, 0.9))
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    assert final.a.max() > 0


@pytest.mark.parametrize("synaptic", [False, True])
def test_recurrent_lif_golden(synaptic):
    torch.manual_seed(0)
    n = RecurrentLIFNeuron(6, beta=0.8, threshold=0.7, synaptic=synaptic, synaptic_beta=0.5).double()
    x = _input(seed=2)
    s, v, _ = _run(n, x)
    s_ref, v_ref = np_reference(
        x.numpy(), _np(n.beta), _np(n.threshold), syn=0.5 if synaptic else None, w_rec=_np(n.w_rec)
    )
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)


def test_advanced_lif_golden_with_delays():
    n = AdvancedLIFNeuron(
        6, threshold=0.8, max_delay=3, tau_mean=8.0, tau_std=3.0, generator=torch.Generator().manual_seed(0)
    )
    x = _input(seed=3)
    s, v, final = _run(n, x)
    delay = _np(n.delay)
    assert delay.min() >= 0 and delay.max() <= 3 and len(np.unique(_np(n.beta))) == 6
    s_ref, v_ref = np_reference(x.numpy(), _np(n.beta), _np(n.threshold), delay=delay, adapt=(0.5, 0.95))
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    assert final.spike_history.shape == (3, 4, 6) and final.a.shape == (3, 6)


@pytest.mark.parametrize("max_delay", [0, 2])
def test_advanced_lif_adaptation_golden(max_delay):
    """AdvancedLIF's state gains ``a`` with AdaptiveLIF's rule (thr + alpha a; a = decay a + s)."""
    n = AdvancedLIFNeuron(
        6,
        threshold=0.6,
        max_delay=max_delay,
        tau_mean=6.0,
        tau_std=2.0,
        adaptation_alpha=0.3,
        adaptation_decay=0.8,
        generator=torch.Generator().manual_seed(2),
        reset="zero",
    )
    x = _input(seed=7)
    s, v, final = _run(n, x)
    delay = _np(n.delay) if max_delay else None
    s_ref, v_ref = np_reference(x.numpy(), _np(n.beta), 0.6, reset="zero", delay=delay, adapt=(0.3, 0.8))
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)
    s0, _ = np_reference(x.numpy(), _np(n.beta), 0.6, reset="zero", delay=delay)
    assert s.sum() < s0.sum()  # adaptation raises the threshold after spikes: fewer spikes
    a_ref = np.zeros((3, 6))
    for t in range(x.shape[1]):
        a_ref = 0.8 * a_ref + s_ref[:, t]
    np.testing.assert_allclose(final.a.detach().numpy(), a_ref, rtol=1e-12)
    cfg_n = build_neuron(NeuronConfig(type="advanced_lif", adaptation_alpha=0.3, adaptation_decay=0.8), 4)
    assert (cfg_n.adaptation_alpha, cfg_n.adaptation_decay) == (0.3, 0.8) and "a" in cfg_n.state_shapes(2)


@pytest.mark.parametrize("rise", [0.6, 0.8])
def test_alpha_kernel_synaptic_current_golden(rise):
    """Second-order synapse: impulse response sum_k rise^k beta^(t-k) (alpha function if equal)."""
    beta_syn = 0.8
    n = LIFNeuron(
        1,
        beta=0.0,
        threshold=100.0,
        synaptic=True,
        synaptic_beta=beta_syn,
        synaptic_kernel="alpha",
        synaptic_rise_beta=rise,
        reset="none",
    )
    x = torch.zeros(1, 12, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0
    _, v, final = _run(n, x)  # beta = 0: v_t = i_t, the synaptic current itself
    t = np.arange(12)
    expected = np.array([sum(rise**k * beta_syn ** (tt - k) for k in range(tt + 1)) for tt in t])
    np.testing.assert_allclose(v[0, :, 0], expected, rtol=1e-12)
    if rise == beta_syn:
        np.testing.assert_allclose(expected, (t + 1) * beta_syn**t, rtol=1e-12)  # the alpha function
    assert final.i_rise.shape == (1, 1)
    # full dynamics against numpy, every LIF variant that takes synaptic options
    xs = _input(seed=8)
    for neuron in (
        LIFNeuron(
            6,
            beta=0.7,
            threshold=0.9,
            synaptic=True,
            synaptic_beta=0.6,
            synaptic_kernel="alpha",
            synaptic_rise_beta=rise,
        ),
        build_neuron(
            NeuronConfig(
                beta=0.7,
                threshold=0.9,
                synaptic=True,
                synaptic_beta=0.6,
                synaptic_kernel="alpha",
                synaptic_rise_beta=rise,
            ),
            6,
        ),
    ):
        s, v, _ = _run(neuron, xs)
        s_ref, v_ref = np_reference(xs.numpy(), _np(neuron.beta), _np(neuron.threshold), syn=0.6, syn_rise=rise)
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_allclose(v, v_ref, rtol=1e-12, atol=1e-12)


def test_alpha_kernel_bad_input_names_the_field():
    from brain_ai.config import ConfigError

    with pytest.raises(ConfigError, match=r"neuron\.synaptic_kernel=alpha needs neuron\.synaptic=true"):
        NeuronConfig(synaptic_kernel="alpha")
    with pytest.raises(ConfigError, match=r"neuron\.synaptic_rise_beta=1\.5"):
        NeuronConfig(synaptic=True, synaptic_kernel="alpha", synaptic_rise_beta=1.5)
    with pytest.raises(ValueError, match=r"neuron\.synaptic_kernel=alpha needs neuron\.synaptic=true"):
        LIFNeuron(3, synaptic_kernel="alpha")


def test_leaky_integrator_golden():
    n = LeakyIntegrator(6, beta=0.7)
    x = _input(seed=4) - 0.5
    out, v, _ = _run(n, x)
    ref = np.zeros((3, 6))
    refs = []
    for t in range(x.shape[1]):
        ref = _np(n.beta) * ref + x[:, t].numpy()
        refs.append(ref)
    np.testing.assert_allclose(out, np.stack(refs, 1), rtol=1e-12)
    np.testing.assert_array_equal(out, v)


# ---- module == pure step ------------------------------------------------------------------
def _parity_cases():
    torch.manual_seed(0)
    kw = dict(beta=0.8, threshold=0.6, learnable_beta=True, learnable_threshold=True, synaptic=True, refractory_steps=1)
    return {
        "lif": (LIFNeuron(5, **kw), lambda m, x, s: lif_step(x, s, **m.lif_kwargs())),
        "adaptive": (
            AdaptiveLIFNeuron(5, **kw),
            lambda m, x, s: adaptive_lif_step(
                x, s, adaptation_alpha=m.adaptation_alpha, adaptation_decay=m.adaptation_decay, **m.lif_kwargs()
            ),
        ),
        "recurrent": (
            RecurrentLIFNeuron(5, **kw),
            lambda m, x, s: recurrent_lif_step(x, s, w_rec=m.w_rec, **m.lif_kwargs()),
        ),
        "recurrent_adaptive": (
            RecurrentAdaptiveLIFNeuron(5, **kw, learnable_adaptation=True, per_neuron_beta=True),
            lambda m, x, s: recurrent_lif_step(
                x,
                s,
                w_rec=m.w_rec,
                step=adaptive_lif_step,
                adaptation_alpha=m.adaptation_alpha,
                adaptation_decay=m.adaptation_decay,
                **m.lif_kwargs(),
            ),
        ),
        "advanced": (AdvancedLIFNeuron(5, max_delay=2), None),
        "leaky": (LeakyIntegrator(5, beta=0.8), lambda m, x, s: leaky_integrator_step(x, s, beta=m.beta)),
    }


def _advanced_step(m, x, s):
    x_del, hist = delayed_input(x, s.spike_history, m.delay)
    adapt = dict(adaptation_alpha=m.adaptation_alpha, adaptation_decay=m.adaptation_decay)
    spk, new = adaptive_lif_step(x_del, s, **adapt, **m.lif_kwargs())
    return spk, new.replace(spike_history=hist)


@pytest.mark.parametrize("name", ["lif", "adaptive", "recurrent", "recurrent_adaptive", "advanced", "leaky"])
def test_module_equals_pure_step(name):
    module, fn = _parity_cases()[name]
    fn = fn or _advanced_step
    state = module.reset_state(4)
    for _ in range(6):
        x = 1.2 * torch.rand(4, 5)
        out_m, new_m = module(x, state)
        out_f, new_f = fn(module, x, state)
        assert torch.equal(out_m, out_f)
        for (k, a), (_, b) in zip(new_m.items(), new_f.items()):
            assert (a is None) == (b is None) and (a is None or torch.equal(a, b)), k
        state = new_m


@pytest.mark.parametrize("ntype", sorted(set(NeuronType) - PSN_TYPES))  # PSN family: tests/core/test_psn.py
def test_same_input_twice_gives_same_output(ntype):
    torch.manual_seed(0)
    n = build_neuron(NeuronConfig(type=ntype, max_delay=2, synaptic=True), 8)
    x = 1.5 * torch.rand(2, 10, 8)
    a, _, _ = n.forward_sequence(x)
    b, _, _ = n.forward_sequence(x)
    assert torch.equal(a, b)
    step_a, _ = n(x[:, 0])
    step_b, _ = n(x[:, 0])
    assert torch.equal(step_a, step_b) and torch.equal(step_a, a[:, 0])


def test_surrogate_swap_changes_gradients_not_spikes():
    x = 1.5 * torch.rand(3, 12, 7)
    outs = {}
    for name in ("atan", "triangle", "fast_sigmoid"):
        xi = x.clone().requires_grad_()
        s, _, _ = LIFNeuron(7, surrogate=name).forward_sequence(xi)
        s.sum().backward()
        outs[name] = (s.detach(), xi.grad)
    ref_s, ref_g = outs["atan"]
    for name in ("triangle", "fast_sigmoid"):
        assert torch.equal(outs[name][0], ref_s)
        assert not torch.allclose(outs[name][1], ref_g)


def test_build_neuron_registry_and_surrogate_from_config():
    for ntype, cls in [
        (NeuronType.lif, LIFNeuron),
        (NeuronType.adaptive_lif, AdaptiveLIFNeuron),
        (NeuronType.recurrent_lif, RecurrentLIFNeuron),
        (NeuronType.advanced_lif, AdvancedLIFNeuron),
        (NeuronType.recurrent_adaptive_lif, RecurrentAdaptiveLIFNeuron),
    ]:
        cfg = NeuronConfig(type=ntype, surrogate="triangle", surrogate_alpha=0.5, reset="zero", threshold=0.7)
        n = build_neuron(cfg, 4)
        assert type(n) is cls and n.surrogate.name == "triangle" and n.surrogate.alpha == 0.5
        assert n.reset is ResetMode.zero and n.threshold.item() == pytest.approx(0.7)
    with pytest.raises(TypeError, match="NeuronConfig"):
        build_neuron({"type": "lif"}, 4)


def test_conv_shaped_neuron_and_per_neuron_beta():
    n = LIFNeuron((2, 3, 3), beta=0.9, learnable_beta=True, per_neuron_beta=True)
    assert n.beta.shape == (2, 3, 3)
    s, st, _ = n.forward_sequence(torch.rand(4, 5, 2, 3, 3))
    assert s.shape == (4, 5, 2, 3, 3) and st.v.shape == (4, 2, 3, 3)


def test_threshold_gradient_one_step():
    n = LIFNeuron(5, threshold=0.5, learnable_threshold=True)
    x = torch.rand(3, 5)
    s, _ = n(x)
    s.sum().backward()
    expected = -n.surrogate.grad(x - 0.5).sum()
    assert n.threshold.grad.item() == pytest.approx(expected.item(), rel=1e-6)


def test_matches_spikingjelly_lifnode():
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    beta = 0.8
    x = _input(b=2, t=15, n=5).float()
    node = sj.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_reset=None, v_threshold=1.0)
    ref = torch.stack([node(x[:, t]) for t in range(x.shape[1])], 1)
    s, _, _ = LIFNeuron(5, beta=beta).forward_sequence(x)
    assert torch.equal(s, ref)


def test_matches_sinabs_lif():
    sinabs = pytest.importorskip("sinabs.layers")
    act = pytest.importorskip("sinabs.activation")
    beta = 0.8
    x = _input(b=2, t=15, n=5).float()
    layer = sinabs.LIF(
        tau_mem=-1.0 / np.log(beta), norm_input=False, spike_fn=act.SingleSpike, reset_fn=act.MembraneSubtract()
    )
    ref = layer(x)
    s, _, _ = LIFNeuron(5, beta=beta).forward_sequence(x)
    assert torch.equal(s, ref)


def test_state_is_pytree_and_detach():
    import torch.utils._pytree as pytree

    st = SpikingState(v=torch.ones(2, 3, requires_grad=True) * 2, a=torch.zeros(2, 3))
    leaves, spec = pytree.tree_flatten(st)
    assert len(leaves) == 2
    back = pytree.tree_unflatten(leaves, spec)
    assert back.i is None and torch.equal(back.v, st.v)
    det = st.detach()
    assert det.v.grad_fn is None and torch.equal(det.v, st.v) and st.v.grad_fn is not None


@pytest.mark.parametrize(
    "ntype", [NeuronType.lif, NeuronType.adaptive_lif, NeuronType.recurrent_lif, NeuronType.recurrent_adaptive_lif]
)
@pytest.mark.parametrize("learnable", [False, True])
def test_tau_and_dt_give_beta_exp_minus_dt_over_tau(ntype, learnable):
    n = build_neuron(NeuronConfig(type=ntype, tau=2.0, dt=0.5, learnable_beta=learnable), 3)
    assert n.beta.item() == pytest.approx(np.exp(-0.5 / 2.0), rel=1e-6)
    x = torch.rand(2, 9, 3)
    ref = build_neuron(NeuronConfig(type=ntype, beta=float(np.exp(-0.25)), learnable_beta=learnable), 3)
    ref.load_state_dict(n.state_dict())
    assert torch.equal(n.forward_sequence(x)[0], ref.forward_sequence(x)[0])


def test_tau_golden_trajectory_and_integrator():
    x = np.random.default_rng(3).random((2, 12, 4))
    spikes, _ = np_reference(x, np.exp(-1 / 2.0), 1.0)
    s, _, _ = LIFNeuron(4, tau=2.0, threshold=1.0).forward_sequence(torch.tensor(x))
    np.testing.assert_array_equal(s.numpy(), spikes)
    tau = torch.tensor([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(
        LeakyIntegrator(4, tau=tau, dt=2.0, per_neuron_beta=True).beta.numpy(), np.exp(-2.0 / tau.numpy()), rtol=1e-6
    )
    assert LIFNeuron(4).beta.item() == pytest.approx(0.9)  # neither beta nor tau: the default 0.9


def test_tau_beta_dt_bad_input_names_the_field():
    from brain_ai.config import ConfigError

    with pytest.raises(ConfigError, match=r"neuron\.beta=0\.8 and neuron\.tau=2\.0 are mutually exclusive"):
        NeuronConfig(beta=0.8, tau=2.0)
    with pytest.raises(ConfigError, match=r"neuron\.dt=0"):
        NeuronConfig(tau=2.0, dt=0)
    with pytest.raises(ConfigError, match=r"neuron\.tau=-1"):
        NeuronConfig(tau=-1)
    with pytest.raises(ConfigError, match=r"neuron\.tau=5000"):  # beta = exp(-1/5000) > 0.999
        NeuronConfig(tau=5000)
    with pytest.raises(ValueError, match="mutually exclusive"):
        LIFNeuron(3, beta=0.8, tau=2.0)
    with pytest.raises(ValueError, match=r"LIFNeuron: neuron\.dt=-1"):
        LIFNeuron(3, tau=2.0, dt=-1)
    with pytest.raises(ConfigError, match=r"neuron\.tau=2\.0 is not used by type=advanced_lif.*tau_mean"):
        build_neuron(NeuronConfig(type="advanced_lif", tau=2.0), 3)


def test_per_neuron_threshold_golden_trajectory_and_gradient():
    thr = np.array([0.4, 0.8, 1.2, 1.6])
    x = np.random.default_rng(5).random((2, 15, 4)) * 1.2
    spikes, mems = np_reference(x, 0.8, thr)
    n = LIFNeuron(4, beta=0.8, threshold=torch.tensor(thr), threshold_shape="per_neuron", learnable_threshold=True)
    s, _, tr = n.forward_sequence(torch.tensor(x), record="membrane", backend="eager")
    np.testing.assert_array_equal(s.detach().numpy(), spikes)
    np.testing.assert_allclose(tr["membrane"].detach().numpy(), mems, rtol=1e-6, atol=1e-6)
    # one step: d sum(s) / d thr_n = -sum_b surrogate'(x_bn - thr_n), per neuron
    x0 = torch.tensor(x[:, 0], dtype=torch.float32)
    n.zero_grad()
    n(x0)[0].sum().backward()
    expected = -n.surrogate.grad(x0 - n.threshold.detach()).sum(0)
    torch.testing.assert_close(n.threshold.grad, expected)


def test_threshold_shape_bad_input_names_the_field():
    from brain_ai.config import ConfigError

    with pytest.raises(ValueError, match=r"threshold has shape \(3,\); allowed: \(\) or \(4,\)"):
        LIFNeuron(4, threshold=torch.ones(3), threshold_shape="per_neuron")
    with pytest.raises(ValueError, match=r"threshold has shape \(4,\); allowed: \(\) or \(\)"):
        LIFNeuron(4, threshold=torch.ones(4))  # a per-neuron tensor needs threshold_shape=per_neuron
    with pytest.raises(ValueError, match="threshold must be finite and > 0"):
        LIFNeuron(4, threshold=torch.tensor([1.0, 0.0, 1.0, 1.0]), threshold_shape="per_neuron")
    with pytest.raises(ConfigError, match=r"neuron\.threshold_shape='neuron'.*allowed: layer, per_neuron"):
        NeuronConfig(threshold_shape="neuron")
    n = build_neuron(NeuronConfig(threshold_shape="per_neuron", threshold=0.7), (2, 3))
    assert n.threshold.shape == (2, 3) and bool((n.threshold == 0.7).all())
