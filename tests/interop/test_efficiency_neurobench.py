"""brain_ai.metrics.efficiency agrees with NeuroBench 2.3's static and workload metrics on the same
MLP and conv networks and batches (skipped without ``neurobench``: ``pip install -e .[interop]``).

NeuroBench runs an snnTorch twin of each network (the same Linear / Conv2d modules, ``snn.Leaky``
with the same beta and threshold, reset to zero without delay: spike for spike the same network, as
in the NIR tests), step by step under its hooks. Where the definitions are the same the numbers are
equal; the one difference is the footprint (docs/efficiency.md): snnTorch's ``Leaky`` keeps other
buffers than brain_ai's LIF layer, so only the connection layers' bytes are compared exactly.
"""

from __future__ import annotations

import copy

import pytest
import torch
from nir_helpers import active_net, conv, mlp, spike_input
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from brain_ai.config import NeuronConfig
from brain_ai.metrics.efficiency import EfficiencyMeter

neurobench = pytest.importorskip("neurobench", reason="NeuroBench not installed (pip install -e .[interop])")
snn = pytest.importorskip("snntorch", reason="snnTorch not installed (pip install -e .[interop])")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel  # noqa: E402

NEURON = NeuronConfig(beta=0.9, threshold=1.0, reset="zero")


def _leaky(last: bool = False) -> nn.Module:
    return snn.Leaky(
        beta=NEURON.beta,
        threshold=NEURON.threshold,
        reset_mechanism="zero",
        reset_delay=False,
        init_hidden=True,
        output=last,
    )


def _twin(net: nn.Module) -> nn.Sequential:
    """The snnTorch twin of an SNNCore / ConvSNN (norm none): its own connection modules, Leaky neurons."""
    net = copy.deepcopy(net)
    layers = []
    for block in getattr(net, "blocks", []):
        layers += [block[0], _leaky(), net.pool]
    if layers:
        layers.append(nn.Flatten())
    for j, linear in enumerate(net.linears):
        layers += [linear, _leaky(last=j == len(net.linears) - 1)]
    return nn.Sequential(*layers)


def _prune(net: nn.Module, fraction: float = 0.3) -> None:
    """Zero a fixed random ``fraction`` of every connection weight (connection sparsity, fan-outs)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight"):
                p.mul_((torch.rand(p.shape, generator=g) >= fraction).float())


@pytest.mark.parametrize("make", [mlp, conv], ids=["mlp", "conv"])
def test_neurobench_agrees(make):
    cfg = make(NEURON)
    net = active_net(cfg, gain=3.0)
    _prune(net)
    x = spike_input(cfg, batch=8, steps=20)
    batches = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)

    meter = EfficiencyMeter(net)
    ours_out = []
    with torch.no_grad():
        for xb, _ in batches:
            out = net(xb, return_details=True)
            meter.update(out)
            ours_out.append(out.output)
    ours = meter.compute().total

    model = SNNTorchModel(_twin(net))
    with torch.no_grad():
        theirs_out = torch.cat([model(xb) for xb, _ in batches])
    assert torch.equal(theirs_out, torch.cat(ours_out))  # the twin is the same network, spike for spike
    bench = Benchmark(
        model,
        batches,
        [],
        [],
        [[ParameterCount, Footprint, ConnectionSparsity], [ActivationSparsity, MembraneUpdates, SynapticOperations]],
    )
    theirs = bench.run(quiet=True)
    ops = theirs["SynapticOperations"]
    print(f"{make.__name__}: NeuroBench {theirs}\nbrain_ai {ours}")

    assert ours["effective_macs"] > 0 if make is conv else ours["effective_macs"] == 0  # pooled spikes: MACs
    assert (ours["dense_ops"], ours["effective_acs"], ours["effective_macs"]) == (
        ops["Dense"],
        ops["Effective_ACs"],
        ops["Effective_MACs"],
    )
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)
    assert ours["membrane_updates"] == theirs["MembraneUpdates"]
    assert ours["parameter_count"] == theirs["ParameterCount"]
    assert round(ours["connection_sparsity"], 4) == theirs["ConnectionSparsity"] > 0.25
    # footprint: the same connection layers; the neurons' buffers differ (brain_ai's LIF keeps beta and
    # threshold; snnTorch's Leaky keeps more, its membrane state of the last batch included)
    connections = sum(
        p.numel() * p.element_size() for m in model.net if not isinstance(m, snn.SpikingNeuron) for p in m.parameters()
    )
    leaky = sum(
        b.numel() * b.element_size() for m in model.net if isinstance(m, snn.SpikingNeuron) for b in m.buffers()
    )
    assert theirs["Footprint"] == connections + leaky
    assert ours["footprint_bytes"] == connections + len(net.neurons) * 2 * 4
