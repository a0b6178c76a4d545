"""Seed 000's state keywords: ``carry_state`` (what a sequence call hands back as its final state)
and ``dtype_policy`` (the state dtype under bf16 autocast)."""

from __future__ import annotations

import pytest
import torch

from brain_ai.config import ConfigError, NeuronConfig, SNNConfig
from brain_ai.core.neurons import AdaptiveLIFNeuron, LIFNeuron, build_neuron
from brain_ai.core.snn import build_snn


def inputs(shape=(3, 16, 6), seed: int = 0) -> torch.Tensor:
    return 0.2 + 0.6 * torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def small_net(**neuron) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_snn(SNNConfig(input_size=6, hidden_sizes=[8], output_size=3, neuron=NeuronConfig(**neuron)))


@pytest.mark.parametrize("backend", ["eager", "fused"])
def test_forward_sequence_carry_state(backend):
    x = inputs().requires_grad_()
    cell = LIFNeuron(6, learnable_beta=True, beta=0.8)
    out, attached, _ = cell.forward_sequence(x, backend=backend)
    assert attached.v.requires_grad  # None: the state as computed, in the graph
    out_t, detached, _ = cell.forward_sequence(x, backend=backend, carry_state=True)
    assert not detached.v.requires_grad and torch.equal(detached.v, attached.v) and torch.equal(out_t, out)
    out_f, nothing, _ = cell.forward_sequence(x, backend=backend, carry_state=False)
    assert nothing is None and torch.equal(out_f, out)
    # streaming: two halves with the detached state carried == the whole sequence
    first, state, _ = cell.forward_sequence(x[:, :7], backend=backend, carry_state=True)
    second, _, _ = cell.forward_sequence(x[:, 7:], state, backend=backend, carry_state=True)
    assert torch.equal(torch.cat([first, second], 1), out)


def test_network_carry_state_streams_detached_and_false_keeps_nothing():
    net = small_net().eval()
    x = inputs()
    whole = net(x)
    assert all(s.v.requires_grad for s in whole.final_states.values())  # parameters need grad
    state, parts = None, []
    for window in x.split(5, dim=1):
        out = net(window, state, carry_state=True)
        assert all(not t.requires_grad for s in out.final_states.values() for _, t in s.items() if t is not None)
        parts.append(out.output)
        state = out.final_states
    assert torch.equal(torch.cat(parts, 1), whole.output)
    assert net(x, carry_state=False).final_states == {}


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_carry_state_must_be_a_bool_or_none(bad):
    with pytest.raises(TypeError, match=r"carry_state=.* must be True, False or None"):
        LIFNeuron(6).forward_sequence(inputs(), carry_state=bad)
    with pytest.raises(TypeError, match=r"SNNCore.forward: carry_state=.* must be True, False or None"):
        small_net()(inputs(), carry_state=bad)


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize("cls", [LIFNeuron, AdaptiveLIFNeuron])
def test_dtype_policy_under_bf16_autocast(cls, backend):
    """fp32_state (default) keeps today's float32 state; input_dtype keeps the state in bf16."""
    lin = torch.nn.Linear(6, 6)
    torch.nn.init.eye_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    x = inputs().requires_grad_()
    results = {}
    for policy in ("fp32_state", "input_dtype"):
        cell = cls(6, beta=0.9, dtype_policy=policy)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            current = lin(x)
            assert current.dtype is torch.bfloat16
            s, state, traces = cell.forward_sequence(current, backend=backend, record="membrane")
        want = torch.float32 if policy == "fp32_state" else torch.bfloat16
        assert s.dtype is torch.bfloat16 and state.v.dtype is want and traces["membrane"].dtype is want
        (grad,) = torch.autograd.grad(
            (s.float() * torch.linspace(0, 1, 16).view(1, -1, 1)).sum() + state.v.float().sum(), x
        )
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        results[policy] = traces["membrane"]
    assert not torch.equal(results["fp32_state"], results["input_dtype"].float())  # bf16 rounding in the membrane


def test_dtype_policy_eager_and_fused_agree_in_bf16():
    x = inputs().bfloat16()
    outs = [
        LIFNeuron(6, dtype_policy="input_dtype").forward_sequence(x, backend=b, record="membrane")
        for b in ("eager", "fused")
    ]
    (s1, v1, t1), (s2, v2, t2) = outs
    assert torch.equal(s1, s2) and torch.equal(v1.v, v2.v) and torch.equal(t1["membrane"], t2["membrane"])


def test_network_dtype_policy_from_config_and_bad_values_refused():
    net = small_net(dtype_policy="input_dtype")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(inputs())
    assert {s.v.dtype for s in out.final_states.values()} == {torch.bfloat16}
    assert build_neuron(NeuronConfig(), 4).dtype_policy.value == "fp32_state"
    with pytest.raises(ConfigError, match=r"neuron.dtype_policy='fp16'.*fp32_state.*input_dtype"):
        NeuronConfig(dtype_policy="fp16")
    with pytest.raises(ValueError, match=r"LIFNeuron: neuron.dtype_policy='bf16'"):
        LIFNeuron(4, dtype_policy="bf16")
