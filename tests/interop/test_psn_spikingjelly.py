"""The parallel spiking neurons against SpikingJelly 2.0's ``PSN``, ``MaskedPSN`` and ``SlidingPSN``
(skipped without ``spikingjelly``: ``pip install -e .[interop]``): a state dict of one loads into
the other (same parameter and buffer names and shapes), and with the same parameters the spikes and
the gradients (of the input, the weight and the bias) agree within 1e-6. SpikingJelly is time
first, ``(T, B, N)``; brain_ai batch first, ``(B, T, N)``. Both use the arctan surrogate with
alpha = 2 (SpikingJelly's ``ATan()``, brain_ai's default ``atan``).
"""

from __future__ import annotations

import pytest
import torch

from brain_ai.core.neurons import PSN, MaskedPSN, SlidingPSN

sj = pytest.importorskip(
    "spikingjelly.activation_based.neuron", reason="SpikingJelly not installed (pip install -e .[interop])"
)

T, B, N = 8, 3, 6


def peer_pair(kind: str, lambda_: float = 1.0):
    """(SpikingJelly module, brain_ai module) with SpikingJelly's random parameters copied over (strict load)."""
    torch.manual_seed(0)
    if kind == "psn":
        peer, ours = sj.PSN(T), PSN(N, psn_steps=T)
    elif kind == "masked_psn":
        peer, ours = sj.MaskedPSN(k=3, T=T, lambda_init=lambda_, step_mode="m"), MaskedPSN(N, psn_steps=T, psn_order=3)
    else:
        peer, ours = sj.SlidingPSN(k=3, exp_init=False, step_mode="m"), SlidingPSN(N, psn_order=3)
    with torch.no_grad():
        peer.bias.uniform_(-0.5, 0.5)  # SpikingJelly's -1 leaves few spikes on this input
    ours.load_state_dict(peer.state_dict())  # strict: every name and shape maps one to one
    return peer, ours


def run(module, x, up, time_first):
    """Spikes and the gradients of ``(spikes * up).sum()`` w.r.t. ``x``, ``weight`` and ``bias``."""
    x = x.clone().requires_grad_()
    s = module(x.transpose(0, 1)).transpose(0, 1) if time_first else module.forward_sequence(x)[0]
    (s * up).sum().backward()
    return s.detach(), x.grad, module.weight.grad, module.bias.grad


@pytest.mark.parametrize(
    "kind, lambda_", [("psn", 1.0), ("masked_psn", 1.0), ("masked_psn", 0.3), ("sliding_psn", 1.0)]
)
def test_spikes_and_gradients_equal_spikingjelly(kind, lambda_):
    peer, ours = peer_pair(kind, lambda_)
    if kind == "masked_psn":
        assert float(ours.lambda_) == pytest.approx(lambda_)  # the buffer _lambda_ came with the state dict
    x = torch.randn(B, T, N) * 2
    up = torch.randn(B, T, N)
    ref = run(peer, x, up, time_first=True)
    got = run(ours, x, up, time_first=False)
    assert 0 < ref[0].sum() < ref[0].numel()  # some spikes, not all: the comparison reads both sides of H = 0
    assert torch.equal(got[0], ref[0])
    for name, a, b in zip(("x", "weight", "bias"), got[1:], ref[1:]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=lambda m, name=name: f"d/d{name}: {m}")


@pytest.mark.parametrize("kind", ["psn", "masked_psn", "sliding_psn"])
def test_our_state_dict_loads_into_spikingjelly(kind):
    peer, ours = peer_pair(kind)
    with torch.no_grad():
        ours.weight.mul_(0.5)
    peer.load_state_dict(ours.state_dict())
    x = torch.randn(B, T, N)
    torch.testing.assert_close(peer(x.transpose(0, 1)).transpose(0, 1), ours.forward_sequence(x)[0])
