"""Benchmark entries: one LIF layer per library, each configured to the reference dynamics.

Reference (``reference.py``): ``v = 0.9 * v + x``, spike ``v - 1 > 0``, subtractive reset whose
gradient is not detached, ``v`` starts at 0. Every entry builds a module that maps a whole
input-current sequence to the spike sequence in the library's own layout (``entry.layout``:
"BTN" batch-first or "TBN" time-first) and starts from a zero state on every call.

Configuration per library (why each argument is needed is in benchmarks/README.md):

* snnTorch ``Leaky(reset_delay=False)`` + our loop over ``x.unbind(0)``; surrogate fast_sigmoid(25).
* SpikingJelly ``LIFNode(tau=10, decay_input=False, v_reset=None, step_mode="m")``; SoftSign(25).
* Norse ``Lift(LIFBoxCell)`` with ``tau_mem_inv = (1 - beta) / dt``, ``reset_subtract`` and the
  input scaled by ``1 / (1 - beta)``; surrogate "super" (1 / (1 + |x|)^2, slope not settable).
* Sinabs ``LIF(spike_fn=SingleSpike, norm_input=False)`` with ``alpha_mem`` = beta, frozen;
  a fast-sigmoid(25) surrogate.
* brain_ai ``LIFNeuron(reset="subtract", surrogate="fast_sigmoid", surrogate_alpha=25)`` through
  ``forward_sequence``; once with the default path (``backend="auto"``) and once with the generic
  unroll (``backend="eager"``);
  optionally (``--libs brain_ai_kernel``) ``fused_lif_sequence`` called directly.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

BETA = 0.9
THRESHOLD = 1.0
SLOPE = 25.0  # fast-sigmoid slope wherever the library lets us set it


# ----------------------------------------------------------------------------------- brain_ai
class BrainAILIF(nn.Module):
    """``brain_ai.core.neurons.LIFNeuron`` over a ``(B, T, N)`` sequence, run by ``backend`` (auto: the default path)."""

    def __init__(self, n: int, backend: str = "auto") -> None:
        super().__init__()
        from brain_ai.core.neurons import LIFNeuron

        self.neuron = LIFNeuron(
            n, beta=BETA, threshold=THRESHOLD, reset="subtract", surrogate="fast_sigmoid", surrogate_alpha=SLOPE
        )
        self.backend = backend

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron.forward_sequence(x, backend=self.backend)[0]


class BrainAIFusedKernel(nn.Module):
    """``brain_ai.core.fused.fused_lif_sequence`` called directly (the kernel without the module)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        from brain_ai.core.surrogates import get_surrogate

        self.surrogate = get_surrogate("fast_sigmoid", SLOPE)

    def forward(self, x: Tensor) -> Tensor:
        from brain_ai.core.fused import fused_lif_sequence

        return fused_lif_sequence(x, None, BETA, THRESHOLD, "subtract", self.surrogate)[0]


def _brain_ai_probe(z: Tensor) -> Tensor:
    from brain_ai.core.surrogates import get_surrogate

    return get_surrogate("fast_sigmoid", SLOPE)(z)


def _brain_ai_available() -> Optional[str]:
    try:
        from brain_ai.core.neurons import LIFNeuron
    except Exception as err:  # noqa: BLE001 - any import failure is a skip reason
        return f"brain_ai.core.neurons.LIFNeuron not importable ({type(err).__name__}: {err})"
    if not hasattr(LIFNeuron, "forward_sequence"):
        return "LIFNeuron has no forward_sequence"
    return None


def _brain_ai_kernel_available() -> Optional[str]:
    try:
        from brain_ai.core.fused import fused_lif_sequence  # noqa: F401
    except Exception as err:  # noqa: BLE001
        return f"brain_ai.core.fused.fused_lif_sequence not importable ({type(err).__name__}: {err})"
    return None


# ----------------------------------------------------------------------------------- snnTorch
class SnnTorchLIF(nn.Module):
    """snnTorch ``Leaky`` stepped over ``x.unbind(0)`` (snnTorch has no sequence module); ``(T, B, N)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        import snntorch
        from snntorch import surrogate

        self.cell = snntorch.Leaky(
            beta=BETA,
            threshold=THRESHOLD,
            reset_mechanism="subtract",
            reset_delay=False,  # default True applies the reset one step late and undecayed
            spike_grad=surrogate.fast_sigmoid(slope=SLOPE),
        )

    def forward(self, x: Tensor) -> Tensor:
        mem = x.new_zeros(x.shape[1:])
        spikes = []
        for x_t in x.unbind(0):
            spk, mem = self.cell(x_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)


def _snntorch_probe(z: Tensor) -> Tensor:
    from snntorch import surrogate

    return surrogate.fast_sigmoid(slope=SLOPE)(z)


# ------------------------------------------------------------------------------- SpikingJelly
class SpikingJellyLIF(nn.Module):
    """SpikingJelly ``LIFNode`` in multi-step mode, reset before each sequence; ``(T, B, N)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        from spikingjelly.activation_based import neuron, surrogate

        self.node = neuron.LIFNode(
            tau=1.0 / (1.0 - BETA),  # H = V - V/tau + X  =>  beta = 1 - 1/tau
            decay_input=False,  # default True scales the input by 1/tau
            v_threshold=THRESHOLD,
            v_reset=None,  # None = subtractive (soft) reset; default 0.0 is a hard reset
            surrogate_function=surrogate.SoftSign(alpha=SLOPE),
            detach_reset=False,
            step_mode="m",
        )

    def forward(self, x: Tensor) -> Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.node)
        return self.node(x)


def _spikingjelly_probe(z: Tensor) -> Tensor:
    from spikingjelly.activation_based import surrogate

    return surrogate.SoftSign(alpha=SLOPE)(z)


# -------------------------------------------------------------------------------------- Norse
NORSE_DT = 1e-3


class NorseLIF(nn.Module):
    """Norse ``Lift(LIFBoxCell)`` (explicit Euler: v += dt*tau_inv*(i - v)); ``(T, B, N)``.

    With ``dt * tau_mem_inv = 1 - beta`` the update is ``v = beta * v + (1 - beta) * i``; feeding
    ``i = x / (1 - beta)`` gives the reference charge ``v = beta * v + x``.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        from norse.torch import LIFBoxCell, LIFBoxParameters, Lift
        from norse.torch.functional.reset import reset_subtract

        params = LIFBoxParameters(
            tau_mem_inv=torch.as_tensor((1.0 - BETA) / NORSE_DT),
            v_th=torch.as_tensor(THRESHOLD),
            v_reset=torch.as_tensor(0.0),
            method="super",
            reset_method=reset_subtract,  # default reset_value is a hard reset to v_reset
        )
        self.lift = Lift(LIFBoxCell(params, dt=NORSE_DT))
        self.input_scale = 1.0 / (1.0 - BETA)

    def forward(self, x: Tensor) -> Tensor:
        spikes, _ = self.lift(x * self.input_scale)
        return spikes


def _norse_probe(z: Tensor) -> Tensor:
    from norse.torch.functional.threshold import threshold

    return threshold(z, "super", 100.0)


# ------------------------------------------------------------------------------------- Sinabs
@dataclass
class SinabsFastSigmoid:
    """Sinabs surrogate-gradient callable: ``1 / (1 + slope * |v - thr|)^2``."""

    slope: float = SLOPE

    def __call__(self, v_mem: Tensor, spike_threshold: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.slope * (v_mem - spike_threshold).abs()) ** 2


class SinabsLIF(nn.Module):
    """Sinabs ``layers.LIF`` with single spikes and unscaled input, states reset per call; ``(B, T, N)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        from sinabs.activation import MembraneSubtract, SingleSpike
        from sinabs.layers import LIF

        self.lif = LIF(
            tau_mem=-1.0 / math.log(BETA),  # sinabs: alpha = exp(-1/tau)
            spike_threshold=torch.tensor(THRESHOLD),
            spike_fn=SingleSpike,  # default MultiSpike emits floor(v/thr) spikes per step
            reset_fn=MembraneSubtract(),
            surrogate_grad_fn=SinabsFastSigmoid(),
            norm_input=False,  # default True scales the input by (1 - alpha)
            train_alphas=True,  # stores alpha_mem itself, so it can be set to beta exactly
        )
        with torch.no_grad():
            self.lif.alpha_mem.fill_(BETA)
        self.lif.alpha_mem.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        self.lif.reset_states()
        return self.lif(x)


def _sinabs_probe(z: Tensor) -> Tensor:
    from sinabs.activation import SingleSpike

    return SingleSpike.apply(z + THRESHOLD, torch.tensor(THRESHOLD), SinabsFastSigmoid())


# ------------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Entry:
    """One benchmarked implementation.

    ``build(n)`` returns the LIF layer (``None`` for the ANN floor, which uses ReLU); ``probe(z)``
    applies the library's spike function to ``z = v - thr`` so the check can read its surrogate.
    """

    name: str
    label: str
    package: str
    layout: str
    build: Optional[Callable[[int], nn.Module]]
    probe: Optional[Callable[[Tensor], Tensor]]
    config: str
    available: Optional[Callable[[], Optional[str]]] = None
    #: part of the default ``--libs`` (False: only when named explicitly)
    default: bool = True

    def unavailable_reason(self) -> Optional[str]:
        """None when the entry can run here, else why not."""
        if self.available is not None:
            return self.available()
        try:
            importlib.import_module(self.package)
        except Exception as err:  # noqa: BLE001 - not installed or broken install: skip
            return f"{self.package} not importable ({type(err).__name__}: {err})"
        return None

    def version(self) -> str:
        """Installed distribution version of ``package`` ("-" when not installed)."""
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return "-"


ENTRIES: Dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("ann", "ANN floor (ReLU, whole sequence)", "torch", "BTN", None, None, "nn.ReLU on all T at once"),
        Entry(
            "brain_ai",
            "brain_ai LIFNeuron (default path)",
            "brain_ai",
            "BTN",
            BrainAILIF,
            _brain_ai_probe,
            "LIFNeuron(beta=0.9, threshold=1, reset='subtract', surrogate='fast_sigmoid', surrogate_alpha=25).forward_sequence",
            _brain_ai_available,
        ),
        Entry(
            "brain_ai_unfused",
            "brain_ai LIFNeuron (backend=eager)",
            "brain_ai",
            "BTN",
            lambda n: BrainAILIF(n, backend="eager"),
            _brain_ai_probe,
            "as brain_ai, forward_sequence(backend='eager')",
            _brain_ai_available,
        ),
        Entry(
            "brain_ai_kernel",
            "brain_ai fused_lif_sequence (kernel called directly)",
            "brain_ai",
            "BTN",
            BrainAIFusedKernel,
            _brain_ai_probe,
            "fused_lif_sequence(x, None, 0.9, 1.0, 'subtract', FastSigmoid(25))",
            _brain_ai_kernel_available,
            default=False,
        ),
        Entry(
            "snntorch",
            "snnTorch Leaky (loop over x.unbind(0))",
            "snntorch",
            "TBN",
            SnnTorchLIF,
            _snntorch_probe,
            "Leaky(beta=0.9, threshold=1, reset_mechanism='subtract', reset_delay=False, spike_grad=fast_sigmoid(25))",
        ),
        Entry(
            "spikingjelly",
            "SpikingJelly LIFNode (multi-step)",
            "spikingjelly",
            "TBN",
            SpikingJellyLIF,
            _spikingjelly_probe,
            "LIFNode(tau=10, decay_input=False, v_threshold=1, v_reset=None, SoftSign(25), detach_reset=False, step_mode='m')",
        ),
        Entry(
            "norse",
            "Norse Lift(LIFBoxCell)",
            "norse",
            "TBN",
            NorseLIF,
            _norse_probe,
            "LIFBoxParameters(tau_mem_inv=100, v_th=1, method='super', reset_method=reset_subtract), dt=1e-3, input x10",
        ),
        Entry(
            "sinabs",
            "Sinabs layers.LIF",
            "sinabs",
            "BTN",
            SinabsLIF,
            _sinabs_probe,
            "LIF(spike_fn=SingleSpike, reset_fn=MembraneSubtract(), norm_input=False, alpha_mem=0.9 frozen, fast-sigmoid(25))",
        ),
    ]
}
