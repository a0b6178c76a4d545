r"""NIR (Neuromorphic Intermediate Representation) export and import.

``export(model_or_checkpoint, dt=..., approximate=False) -> nir.NIRGraph`` and
``load(graph_or_path, dt=None) -> SNNCore | ConvSNN``; ``write_graph`` / ``read_graph`` for files;
``export_file`` (``python export.py``) and ``lit_module_from_nir`` (``evaluate.py ckpt_path=x.nir``).

**Time convention.** NIR neurons are continuous-time ODEs; brain_ai steps them with forward Euler
and step ``dt`` (seconds per brain_ai time step, default :data:`DEFAULT_DT` = 1e-4 s, the value
snnTorch's NIR importer hard-codes). ``export`` records ``dt`` in ``graph.metadata["dt"]``; ``load``
uses it unless given another. With these parameters one Euler step of the NIR equations *is*
brain_ai's step, so graphs round-trip bit for bit (decays travel as float64):

=================================  ===========================================  ===========================================
brain_ai (per step)                NIR                                          export -> / <- load
=================================  ===========================================  ===========================================
``v = beta*v + x                   LIF ``tau dv/dt = (v_leak - v) + r I``       ``tau = dt/(1-beta)``, ``r = 1/(1-beta)``,
+ (1-beta)*v_rest`` (LIF membrane)                                              ``v_leak = v_rest`` / ``beta = 1 - dt/tau``; an input
                                                                                gain ``r*dt/tau != 1`` is folded into the
                                                                                preceding weights (within 1e-6 of 1 counts as 1)
``s = v > threshold``              ``v_threshold``                              ``v_threshold = threshold`` (one per layer)
reset ``zero`` (``v -> v_reset``)  ``v_reset``                                  ``v_reset = v_reset`` (exact); ``subtract`` / ``none``
                                                                                only with ``approximate=True`` (exported as zero)
``i = synaptic_beta*i + x``,       CubaLIF ``tau_syn dI/dt = -I + w_in S``,      ``tau_syn = dt/(1-synaptic_beta)``,
``v = beta*v + i``                 then the membrane with the *new* I            ``w_in = 1/(1-synaptic_beta)``; tau_mem, r as LIF
RecurrentLIF ``+ W_rec s_{t-1}``   edges ``layerK -> layerK_rec -> layerK``       ``Linear(W_rec)``; the cycle delivers last step's
                                                                                spikes (a recurrent Affine's bias is folded into
                                                                                the layer's input bias on load)
LeakyIntegrator readout            LI ``tau dv/dt = (v_leak - v) + r I``         as LIF membrane; output = ``v``
``nn.Linear`` / ``Conv2d``         Affine / Conv2d (stride 1, padding k//2)     weights as they are (float32)
``AvgPool2d(p)``, flatten          AvgPool2d(p, stride p), Flatten(0, -1)        as they are
BatchNorm2d (``norm=batch``)       folded into Conv2d                           ``approximate=True`` only (float rounding)
AdaptiveLIF, refractory steps,     --                                           exact only with ``adaptation_alpha=0`` /
AdvancedLIF delays                                                              ``refractory_steps=0`` / ``max_delay=0``;
                                                                                else ``approximate=True`` drops them
surrogate, dropout, chunking,      --                                           ignored: they do not change the forward pass
fused/backend                                                                   in eval mode
=================================  ===========================================  ===========================================

``load`` accepts graphs of this shape from any tool (nested subgraphs, e.g. snnTorch's RLeaky,
are inlined): ``Input -> [Conv2d -> LIF|CubaLIF -> AvgPool2d?]* -> Flatten -> [Affine|Linear ->
LIF|CubaLIF]* -> Affine|Linear -> LIF|CubaLIF|LI -> Output``, one neuron model for every spiking
layer, one ``v_leak`` and one ``v_reset`` for every spiking layer (``v_leak = 0`` on an LI readout),
one threshold per layer. Anything else raises
:class:`NIRImportError` naming the node.
"""

from brain_ai.interop.nir._app import export_command, export_file, lit_module_from_nir
from brain_ai.interop.nir._export import export
from brain_ai.interop.nir._files import read_graph, write_graph
from brain_ai.interop.nir._load import load
from brain_ai.interop.nir._mapping import DEFAULT_DT, NIRExportError, NIRImportError

__all__ = [
    "DEFAULT_DT",
    "NIRExportError",
    "NIRImportError",
    "export",
    "export_command",
    "export_file",
    "lit_module_from_nir",
    "load",
    "read_graph",
    "write_graph",
]
