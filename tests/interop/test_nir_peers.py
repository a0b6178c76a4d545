"""Cross-library oracles: brain_ai's NIR graphs run in snnTorch / Norse / Sinabs, and snnTorch's
NIR export loads into brain_ai. Skipped when a peer is missing (``pip install -e .[interop]``;
Sinabs with ``--no-deps``, see pyproject). Measured agreement and its reasons: docs/nir.md."""

from __future__ import annotations

import copy

import pytest
import torch
from nir_helpers import active_net, mlp, spike_input

from brain_ai.config import NeuronConfig
from brain_ai.interop.nir import export, load

Z = dict(reset="zero")
DT = 1e-4  # snnTorch's importer hard-codes this step


def _steps(module, x):
    """Run a peer's stateful per-step module over ``x (B, T, N)``; returns ``(B, T, C)``."""
    state, outs = None, []
    for t in range(x.shape[1]):
        out = module(x[:, t]) if state is None else module(x[:, t], state)
        out, state = out if isinstance(out, tuple) else (out, None)
        outs.append(out)
    return torch.stack(outs, 1)


def _reference(cfg, gain=2.5):
    net = active_net(cfg, gain=gain)
    x = spike_input(cfg, batch=8, steps=50)
    with torch.no_grad():
        return net, x, net(x).output


@pytest.mark.parametrize(
    "neuron", [NeuronConfig(**Z), NeuronConfig(synaptic=True, synaptic_beta=0.7, **Z)], ids=["LIF", "CubaLIF"]
)
def test_snntorch_runs_our_graph_spike_for_spike(neuron):
    import_nir = pytest.importorskip("snntorch.import_nir", reason="snnTorch not installed (pip install -e .[interop])")
    net, x, ours = _reference(mlp(neuron))
    with torch.no_grad():
        theirs = _steps(import_nir.import_from_nir(export(net, dt=DT)), x)
    assert torch.equal(theirs, ours)


def test_norse_runs_our_cubalif_graph_spike_for_spike():
    norse = pytest.importorskip("norse.torch", reason="Norse not installed (pip install -e .[interop])")
    net, x, ours = _reference(mlp(NeuronConfig(synaptic=True, **Z)))
    with torch.no_grad():
        theirs = _steps(norse.from_nir(export(net, dt=DT), dt=DT), x)
    assert torch.equal(theirs, ours)


def test_norse_lif_import_ignores_r():
    """Norse 1.1's LIF importer drops NIR's r (it logs a warning), so its input gain is dt/tau =
    1 - beta instead of 1: it matches brain_ai with every weight and bias scaled by 1 - beta."""
    norse = pytest.importorskip("norse.torch", reason="Norse not installed (pip install -e .[interop])")
    cfg = mlp(NeuronConfig(beta=0.5, **Z))
    net, x, _ = _reference(cfg, gain=8.0)
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        for lin, cell in zip(scaled.linears, scaled.neurons):
            lin.weight.mul_(1 - cell.beta)
            lin.bias.mul_(1 - cell.beta)
        expected = scaled(x).output
        theirs = _steps(norse.from_nir(export(net, dt=DT), dt=DT, ignore_warnings=True), x)
    assert expected.mean() > 0
    agreement = (theirs == expected).float().mean().item()
    print(f"norse LIF agreement with brain_ai (weights scaled by 1 - beta): {agreement:.4f}")
    assert agreement > 0.99


def test_sinabs_reads_lif_as_step_exponential_with_subtractive_multispike_reset():
    """Sinabs 3.1.3 reads NIR's tau in time steps (decay exp(-1/tau), ignoring dt and r) and
    resets by subtraction with multi-spikes, not NIR's reset to v_reset: spikes agree only partly."""
    sinabs = pytest.importorskip("sinabs", reason="Sinabs not installed (pip install --no-deps sinabs)")
    net, x, ours = _reference(mlp(NeuronConfig(**Z)))
    model = sinabs.from_nir(export(net, dt=1.0), batch_size=x.shape[0])
    lif = [m for m in model.modules() if isinstance(m, sinabs.layers.LIF)]
    assert [type(m.reset_fn).__name__ for m in lif] == ["MembraneSubtract"] * 3
    assert all(m.spike_fn is sinabs.activation.MultiSpike for m in lif)
    with torch.no_grad():
        out = model(x.flatten(0, 1))
        theirs = (out[0] if isinstance(out, tuple) else out).reshape(ours.shape)
    agreement = (theirs == ours).float().mean().item()
    print(f"sinabs agreement with brain_ai: {agreement:.3f}")
    assert 0.5 < agreement < 1.0


@pytest.mark.parametrize("kind", ["Leaky", "Synaptic", "RLeaky"])
def test_snntorch_export_loads_into_brain_ai_spike_for_spike(kind):
    snn = pytest.importorskip("snntorch", reason="snnTorch not installed (pip install -e .[interop])")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    full = lambda v, n: torch.full((n,), v)  # noqa: E731 (snnTorch's exporter needs per-neuron tensors)
    first = {
        "Leaky": lambda: snn.Leaky(beta=full(0.9, 16), threshold=full(0.8, 16), **kw),
        "Synaptic": lambda: snn.Synaptic(alpha=full(0.7, 16), beta=full(0.9, 16), threshold=full(0.9, 16), **kw),
        "RLeaky": lambda: snn.RLeaky(beta=0.9, linear_features=16, **kw),
    }[kind]()
    last = (
        snn.Synaptic(alpha=full(0.6, 4), beta=full(0.8, 4), threshold=full(1.0, 4), **kw)
        if kind == "Synaptic"
        else snn.Leaky(beta=full(0.8, 4), threshold=full(1.2, 4), **kw)
    )
    theirs = torch.nn.Sequential(torch.nn.Linear(12, 16), first, torch.nn.Linear(16, 4), last)
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(3.0)
    ours = load(export_to_nir(theirs, torch.zeros(12)))
    x = (torch.rand(8, 50, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    utils.reset(theirs)
    with torch.no_grad():
        expected = torch.stack([theirs(x[:, t]) for t in range(x.shape[1])], 1)
        got = ours(x)
    assert 0 < got.layer_spikes["layer0"].mean() < 1 and expected.sum() > 0
    assert torch.equal(got.output, expected)
