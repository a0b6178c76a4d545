"""State lifecycle, input/state validation, beta/threshold parameterisation, mixed precision."""

import pytest
import torch

from brain_ai.config import BETA_MAX, PSN_TYPES, NeuronConfig, NeuronType
from brain_ai.core.neurons import (
    AdaptiveLIFNeuron,
    LeakyIntegrator,
    LIFNeuron,
    RecurrentLIFNeuron,
    SpikingState,
    build_neuron,
)


def test_reset_state_fields_shapes_dtype():
    n = AdaptiveLIFNeuron(4, synaptic=True, refractory_steps=3)
    st = n.reset_state(5, dtype=torch.float64)
    assert st.prev_spk is None and st.spike_history is None
    for name in ("v", "i", "a", "ref"):
        t = getattr(st, name)
        assert t.shape == (5, 4) and t.dtype == torch.float64 and not t.any()
    with pytest.raises(ValueError, match="batch_size"):
        n.reset_state(0)


def test_state_none_means_fresh_zeros():
    n = LIFNeuron(3)
    x = torch.rand(2, 3)
    assert torch.equal(n(x)[1].v, n(x, n.reset_state(2))[1].v)


def test_detach_state_keeps_values_cuts_graph():
    n = LIFNeuron(3)
    x = torch.rand(2, 3, requires_grad=True)
    _, st = n(x)
    det = n.detach_state(st)
    assert st.v.grad_fn is not None and det.v.grad_fn is None and torch.equal(det.v, st.v)


@pytest.mark.parametrize(
    "state_kwargs, match",
    [
        (dict(batch=3), r"state\.v has shape \(3, 4\) but the input needs \(2, 4\)"),
        (dict(n=5), r"state\.v has shape \(2, 5\) but the input needs \(2, 4\)"),
        (dict(dtype=torch.float64), r"state\.v has dtype torch.float64"),
        (dict(device="meta"), r"state\.v is on meta"),
    ],
)
def test_mismatching_state_raises_naming_field(state_kwargs, match):
    n = LIFNeuron(4)
    st = SpikingState(
        v=torch.zeros(
            state_kwargs.get("batch", 2),
            state_kwargs.get("n", 4),
            dtype=state_kwargs.get("dtype", torch.float32),
            device=state_kwargs.get("device", "cpu"),
        )
    )
    with pytest.raises(ValueError, match=match):
        n(torch.rand(2, 4), st)
    with pytest.raises(ValueError, match=match):
        n.forward_sequence(torch.rand(2, 3, 4), st)


def test_missing_field_and_wrong_type_raise():
    with pytest.raises(ValueError, match=r"state\.a is None"):
        AdaptiveLIFNeuron(4)(torch.rand(2, 4), LIFNeuron(4).reset_state(2))
    with pytest.raises(TypeError, match="SpikingState"):
        LIFNeuron(4)(torch.rand(2, 4), torch.zeros(2, 4))


def test_bad_input_shapes_raise():
    n = LIFNeuron(4)
    with pytest.raises(ValueError, match=r"input shape \(2, 5\)"):
        n(torch.rand(2, 5))
    with pytest.raises(ValueError, match=r"\(B, T, \*size\)"):
        n.forward_sequence(torch.rand(2, 4))
    with pytest.raises(TypeError, match="floating point"):
        n(torch.ones(2, 4, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta=1.2), r"beta=1.2"),
        (dict(beta=-0.1), r"beta=-0.1"),
        (dict(beta=1.0), r"beta=1.0"),
        (dict(threshold=0.0), r"threshold=0.0"),
        (dict(threshold=-1.0), r"threshold=-1.0"),
        (dict(beta=0.0, learnable_beta=True), r"learnable beta needs 0 < beta < 0.999"),
        (dict(beta=BETA_MAX, learnable_beta=True), r"learnable beta needs 0 < beta < 0.999"),
        (dict(synaptic=True, synaptic_beta=1.5), r"synaptic_beta=1.5"),
        (dict(refractory_steps=-1), r"refractory_steps=-1"),
        (dict(reset="soft"), r"reset='soft'.*allowed"),
        (dict(surrogate="nope"), r"neuron.surrogate=.nope. is not a valid choice"),
    ],
)
def test_invalid_parameters_raise_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LIFNeuron(4, **kwargs)


def test_boundary_betas_allowed_when_fixed():
    assert LIFNeuron(2, beta=0.0).beta.item() == 0.0
    assert LIFNeuron(2, beta=BETA_MAX).beta.item() == pytest.approx(BETA_MAX)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="size"):
        LIFNeuron(0)
    with pytest.raises(ValueError, match="size"):
        RecurrentLIFNeuron((2, 3))


@pytest.mark.parametrize("per_neuron", [False, True])
def test_learnable_beta_never_leaves_range_under_adam(per_neuron):
    n = LIFNeuron(8, beta=0.5, learnable_beta=True, per_neuron_beta=per_neuron)
    opt = torch.optim.Adam(n.parameters(), lr=1.0)
    assert abs(n.beta.detach() - 0.5).max() < 1e-6
    for _ in range(1000):
        opt.zero_grad()
        (-n.beta.sum()).backward()  # push beta up
        opt.step()
        assert float(n.beta.detach().max()) <= BETA_MAX < 1.0
    assert float(n.beta.detach().min()) > 0.99


def test_learnable_threshold_is_parameter_and_fixed_is_buffer():
    n = LIFNeuron(3, learnable_threshold=True, learnable_beta=True)
    assert {name for name, _ in n.named_parameters()} == {"beta_raw", "threshold_param"}
    m = LIFNeuron(3)
    assert list(m.parameters()) == [] and {"beta_fixed", "threshold_fixed"} <= set(m.state_dict())


# ---- mixed precision ------------------------------------------------------------------------
VARIANTS = [NeuronType.lif, NeuronType.adaptive_lif, NeuronType.advanced_lif]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("ntype", VARIANTS)
def test_autocast_keeps_fp32_state_and_matches_fp32(ntype, dtype):
    torch.manual_seed(0)
    n = build_neuron(NeuronConfig(type=ntype, synaptic=True, max_delay=2), 16)
    x = (1.5 * torch.rand(4, 12, 16)).to(dtype)  # what a layer under autocast would emit
    with torch.autocast("cpu", dtype=dtype):
        s_amp, st_amp, tr = n.forward_sequence(x, record="membrane")
    s_ref, st_ref, tr_ref = n.forward_sequence(x.float(), record="membrane")
    assert s_amp.dtype == dtype and st_amp.v.dtype == torch.float32 and tr["membrane"].dtype == torch.float32
    assert all(t.dtype == torch.float32 for _, t in st_amp.items() if t is not None)
    assert torch.equal(s_amp.float(), s_ref)
    assert torch.equal(tr["membrane"], tr_ref["membrane"])


def test_recurrent_under_autocast_keeps_fp32_state():
    n = RecurrentLIFNeuron(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, st, _ = n.forward_sequence(torch.rand(2, 5, 8, dtype=torch.bfloat16))
    assert s.dtype == torch.bfloat16 and st.v.dtype == torch.float32 and st.prev_spk.dtype == torch.float32


def test_half_inputs_without_autocast_and_fp64_stays_fp64():
    n = LIFNeuron(4)
    s, st = n(torch.rand(2, 4, dtype=torch.float16))
    assert s.dtype == torch.float16 and st.v.dtype == torch.float32
    s, st = n.double()(torch.rand(2, 4, dtype=torch.float64))
    assert s.dtype == torch.float64 and st.v.dtype == torch.float64


def test_leaky_integrator_output_is_fp32_under_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, st = LeakyIntegrator(3)(torch.rand(2, 3, dtype=torch.bfloat16))
    assert out.dtype == torch.float32 and st.v.dtype == torch.float32


def test_no_inplace_ops_on_autograd_tensors():
    # autograd's version counter catches in-place modification of saved tensors at backward
    for ntype in set(NeuronType) - PSN_TYPES:  # the PSN family: tests/core/test_psn.py
        n = build_neuron(
            NeuronConfig(type=ntype, synaptic=True, refractory_steps=1, max_delay=2, learnable_beta=True), 6
        )
        x = torch.rand(2, 7, 6, requires_grad=True)
        s, _, _ = n.forward_sequence(x, chunk_size=3)
        s.sum().backward()
        assert torch.isfinite(x.grad).all()
