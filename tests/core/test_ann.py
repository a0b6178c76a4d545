"""The non-spiking LSTM / GRU baselines (snn.architecture=lstm / gru): shapes, wiring, state, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brain_ai.config import SNNConfig
from brain_ai.core.ann import RecurrentANN
from brain_ai.core.snn import build_snn, run_streaming


def make(arch: str, hidden=(8, 6), inputs: int = 3, outputs: int = 4, **kw) -> RecurrentANN:
    return build_snn(
        SNNConfig(
            architecture=arch,
            hidden_sizes=list(hidden),
            readout="membrane",
            input_size=inputs,
            output_size=outputs,
            **kw,
        )
    )


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_output_and_state_shapes(arch):
    torch.manual_seed(0)
    net = make(arch)
    assert isinstance(net, RecurrentANN)
    out = net(torch.randn(5, 7, 3))
    assert out.output.shape == (5, 7, 4)
    assert out.layer_spikes == {} and out.layer_membranes == {} and out.probes == {}
    parts = 2 if arch == "lstm" else 1
    assert {k: [tuple(t.shape) for t in v] for k, v in out.final_states.items()} == {
        "layer0": [(5, 8)] * parts,
        "layer1": [(5, 6)] * parts,
    }
    assert net(torch.randn(5, 7, 1, 3)).output.shape == (5, 7, 4)  # features flattened per step
    assert net(torch.randn(5, 7, 3), return_details=True).probes == {}


@pytest.mark.parametrize("arch, cls", [("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_stack_equals_torch_multilayer_cell_then_linear(arch, cls):
    """Two stacked layers of equal size are torch's own 2-layer cell, followed by the readout at every step."""
    torch.manual_seed(1)
    net = make(arch, hidden=(8, 8))
    ref = cls(3, 8, num_layers=2, batch_first=True)
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{i}").copy_(getattr(layer, f"{name}_l0"))
    x = torch.randn(4, 9, 3)
    hidden, _ = ref(x)  # (B, T, 8)
    expected = hidden @ net.readout.weight.T + net.readout.bias
    torch.testing.assert_close(net(x).output, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_carried_state_continues_the_sequence(arch):
    torch.manual_seed(2)
    net = make(arch)
    x = torch.randn(3, 10, 3)
    whole = net(x)
    first = net(x[:, :4])
    rest = net(x[:, 4:], first.final_states)
    torch.testing.assert_close(torch.cat([first.output, rest.output], 1), whole.output)
    torch.testing.assert_close(run_streaming(net, x, 3).output, whole.output)
    with pytest.raises(ValueError, match=r"layer 'layer0': state must be"):
        net(x, {"layer0": (torch.zeros(2, 8),) * 2, "layer1": None})
    with pytest.raises(ValueError, match=r"state must be a dict with the layers \['layer0', 'layer1'\]"):
        net(x, {"layer0": None})


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_learns_to_remember_the_first_step(arch):
    """The class is the sign of the first input; 7 noise steps follow and the last step is read out."""
    torch.manual_seed(3)
    net = make(arch, hidden=(8,), inputs=1, outputs=2)
    opt = torch.optim.Adam(net.parameters(), lr=0.03)

    def batch(n: int):
        labels = torch.randint(0, 2, (n,))
        x = 0.3 * torch.randn(n, 8, 1)
        x[:, 0, 0] = labels.float() * 2 - 1
        return x, labels

    for _ in range(60):
        x, y = batch(32)
        loss = nn.functional.cross_entropy(net(x).output[:, -1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(500)
    with torch.no_grad():
        accuracy = (net(x).output[:, -1].argmax(-1) == y).float().mean()
    assert accuracy > 0.95


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_dropout_masks_come_from_the_given_generator_not_the_global_rng(arch):
    net = make(arch, dropout=0.5).train()
    x = torch.rand(2, 5, 3)
    before = torch.get_rng_state()
    a = net(x, generator=torch.Generator().manual_seed(3)).output
    b = net(x, generator=torch.Generator().manual_seed(3)).output
    c = net(x, generator=torch.Generator().manual_seed(4)).output
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b) and not torch.equal(a, c)
    net.eval()
    assert torch.equal(net(x).output, net(x).output)  # no dropout outside training


def test_ann_imports_no_snn_module_and_takes_no_spike_arguments():
    """No import cycle: the baseline gets SNNOutput from brain_ai.core.network_output; and its forward
    takes none of the SNNs' spike-recording flags, which it could only ignore."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, brain_ai.core.ann; assert 'brain_ai.core.snn' not in sys.modules, 'ann imports snn'"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    net = RecurrentANN(
        SNNConfig(architecture="lstm", hidden_sizes=[4], input_size=3, output_size=2, readout="membrane")
    )
    assert not net.spiking
    for flag in ("keep_spikes", "record_membrane", "mask"):
        with pytest.raises(TypeError, match=flag):
            net(torch.randn(2, 5, 3), **{flag: None})
