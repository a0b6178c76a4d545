"""Workloads W1, W2, W3 (CPU) and ON (Open Neuromorphic, CUDA), built for one entry.

Every builder returns a :class:`Workload` whose ``step()`` runs one timed unit of work and
returns the tensors used for the activity sanity figures. Data and weights are drawn from fixed
seeds in batch-first layout and transposed (once, outside the timing) for time-first entries, so
every entry sees identical numbers.

* W1: one LIF layer on the current ``0.1 + 0.5 * randn`` ``(B=32, T=100, N=1024)``; forward and
  backward of ``spikes.sum()`` (gradient w.r.t. the input current).
* W2: Adam step of Linear(700->256) -> LIF -> Linear(256->20) -> LIF, ``T=100, B=64``,
  Bernoulli(0.05) input spikes, cross-entropy on the output spike counts. The Linear layers run
  on the whole sequence at once, the LIF layers layer by layer.
* W3: W2 with ``T=500``.
* ON: Linear(n, n) -> LIF, ``B=16, T=500``, ``randn`` input, n = 4096 and 16384; forward and
  backward of ``spikes.sum()`` timed separately (the published benchmark's protocol).
* LIF: the LIF layer alone (the kernel is the whole cost), ``B=32, T=500``, n = 4096 and 16384,
  fp32 and bf16 input current ``0.1 + 0.5 * randn``; forward and backward of a random upstream
  gradient (CUDA).

``ON`` and ``LIF`` are the CUDA workloads: one measurement per combination of their tuple-valued
sizes (:func:`variants`).

The ANN floor replaces every LIF layer by ReLU over all time steps at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import product
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from entries import Entry
from torch import Tensor, nn

FULL_SIZES: Dict[str, dict] = {
    "W1": dict(T=100, B=32, N=1024),
    "W2": dict(T=100, B=64, n_in=700, n_hid=256, n_out=20),
    "W3": dict(T=500, B=64, n_in=700, n_hid=256, n_out=20),
    "ON": dict(T=500, B=16, n=(4096, 16384)),
    "LIF": dict(T=500, B=32, n=(4096, 16384), dtype=("float32", "bfloat16")),
}
QUICK_SIZES: Dict[str, dict] = {
    "W1": dict(T=10, B=4, N=64),
    "W2": dict(T=10, B=8, n_in=70, n_hid=32, n_out=20),
    "W3": dict(T=30, B=8, n_in=70, n_hid=32, n_out=20),
    "ON": dict(T=20, B=4, n=(64, 128)),
    "LIF": dict(T=20, B=4, n=(64,), dtype=("float32", "bfloat16")),
}
#: workloads measured on ``--on-device`` (CUDA), one run per variant
CUDA_WORKLOADS = ("ON", "LIF")
#: weight gains over nn.Linear's default init so W2/W3 fire at a few percent (not silent)
GAIN_HIDDEN = 4.0
GAIN_OUTPUT = 4.0
INPUT_RATE = 0.05
ADAM_LR = 1e-5  # small, so firing stays stationary over the iterations (cost is lr-independent)


@dataclass
class Workload:
    """``step()`` = one timed unit of work; returns named tensors for the activity figures."""

    step: Callable[[], Dict[str, Tensor]]
    activity: List[str] = field(default_factory=list)  # which returned tensors are spike trains


def to_layout(x: Tensor, layout: str) -> Tensor:
    """Batch-first ``(B, T, ...)`` -> the entry's layout ("BTN" unchanged, "TBN" contiguous)."""
    return x if layout == "BTN" else x.transpose(0, 1).contiguous()


def time_dim(layout: str) -> int:
    return 1 if layout == "BTN" else 0


def activation(entry: Entry, n: int) -> nn.Module:
    """The entry's LIF layer, or ReLU for the ANN floor."""
    return nn.ReLU() if entry.build is None else entry.build(n)


def variants(size: dict) -> Dict[str, dict]:
    """``{"4096 float32": size with n=4096, dtype="float32", ...}``: one per combination of tuple values."""
    keys = [k for k, v in size.items() if isinstance(v, (tuple, list))]
    out = {}
    for values in product(*(size[k] for k in keys)):
        out[" ".join(str(v) for v in values)] = {**size, **dict(zip(keys, values))}
    return out


def build_w1(entry: Entry, size: dict, device: torch.device) -> Workload:
    gen = torch.Generator().manual_seed(0)
    x = 0.1 + 0.5 * torch.randn(size["B"], size["T"], size["N"], generator=gen)  # (B, T, N)
    x = to_layout(x, entry.layout).to(device).requires_grad_()
    layer = activation(entry, size["N"]).to(device)

    def step() -> Dict[str, Tensor]:
        x.grad = None
        out = layer(x)
        out.sum().backward()
        return {"out": out.detach()}

    return Workload(step, activity=[] if entry.build is None else ["out"])


class TwoLayerNet(nn.Module):
    """Linear -> act -> Linear -> act on a whole sequence ``(..., n_in)`` in the entry's layout."""

    def __init__(self, entry: Entry, n_in: int, n_hid: int, n_out: int) -> None:
        super().__init__()
        torch.manual_seed(0)  # identical weights for every entry
        self.fc1 = nn.Linear(n_in, n_hid)
        self.fc2 = nn.Linear(n_hid, n_out)
        with torch.no_grad():
            self.fc1.weight.mul_(GAIN_HIDDEN)
            self.fc2.weight.mul_(GAIN_OUTPUT)
        self.act1 = activation(entry, n_hid)
        self.act2 = activation(entry, n_out)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        hidden = self.act1(self.fc1(x))  # (B, T, n_hid) or (T, B, n_hid)
        return {"hidden": hidden, "output": self.act2(self.fc2(hidden))}


def build_w2(entry: Entry, size: dict, device: torch.device) -> Workload:
    gen = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((size["B"], size["T"], size["n_in"]), INPUT_RATE), generator=gen)  # (B, T, n_in)
    x = to_layout(x, entry.layout).to(device)
    target = torch.randint(0, size["n_out"], (size["B"],), generator=gen).to(device)
    net = TwoLayerNet(entry, size["n_in"], size["n_hid"], size["n_out"]).to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=ADAM_LR)
    tdim = time_dim(entry.layout)

    def step() -> Dict[str, Tensor]:
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = F.cross_entropy(out["output"].sum(tdim), target)  # spike counts (B, n_out) as logits
        loss.backward()
        opt.step()
        return {k: v.detach() for k, v in out.items()}

    return Workload(step, activity=[] if entry.build is None else ["hidden", "output"])


def build_on(entry: Entry, size: dict, device: torch.device) -> Workload:
    """ON workload for one ``size["n"]`` (an int here); ``step()`` returns its own timings."""
    n = size["n"]
    torch.manual_seed(0)
    x = to_layout(torch.randn(size["B"], size["T"], n), entry.layout).to(device)  # (B, T, n) or (T, B, n)
    net = nn.Sequential(nn.Linear(n, n), activation(entry, n)).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> Dict[str, Tensor]:
        net.zero_grad(set_to_none=True)
        sync()
        t0 = time.perf_counter()
        out = net(x)
        sync()
        t1 = time.perf_counter()
        out.sum().backward()
        sync()
        t2 = time.perf_counter()
        return {"out": out.detach(), "fwd_s": torch.tensor(t1 - t0), "bwd_s": torch.tensor(t2 - t1)}

    return Workload(step, activity=[] if entry.build is None else ["out"])


def build_lif(entry: Entry, size: dict, device: torch.device) -> Workload:
    """LIF workload for one ``size["n"]`` and ``size["dtype"]``: fwd + bwd of a random upstream gradient."""
    n, dtype = size["n"], getattr(torch, size["dtype"])
    gen = torch.Generator().manual_seed(0)
    x = 0.1 + 0.5 * torch.randn(size["B"], size["T"], n, generator=gen)  # (B, T, n)
    grad = torch.randn(size["B"], size["T"], n, generator=gen)
    x = to_layout(x, entry.layout).to(device=device, dtype=dtype).requires_grad_()
    grad = to_layout(grad, entry.layout).to(device=device, dtype=dtype)
    layer = activation(entry, n).to(device)

    def step() -> Dict[str, Tensor]:
        x.grad = None
        out = layer(x)
        out.backward(grad)
        return {"out": out.detach()}

    return Workload(step, activity=[] if entry.build is None else ["out"])


BUILDERS = {"W1": build_w1, "W2": build_w2, "W3": build_w2, "ON": build_on, "LIF": build_lif}
