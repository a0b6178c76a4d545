"""Files: read a training checkpoint, read/write ``.nir`` files (atomically), checkpoint -> graph."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import nir
import numpy as np

from brain_ai.app.safe_files import write_atomic
from brain_ai.config import ConfigError, SNNConfig, from_dict
from brain_ai.core.snn import ConvSNN, SNNCore, build_snn
from brain_ai.errors import InputFileError
from brain_ai.training.checkpoints import check_finite_weights, read_checkpoint_file

PathLike = Union[str, Path]


def load_checkpoint(path: PathLike) -> Tuple[Union[SNNCore, ConvSNN], Dict[str, Any]]:
    """The network of a brain_ai training checkpoint and its hyper-parameters.

    Reads with :func:`brain_ai.training.checkpoints.read_checkpoint_file` (CRCs checked, ``torch.load(weights_only=True)``:
    no pickled code runs). Raises ``FileNotFoundError`` for a missing file and
    :class:`~brain_ai.errors.InputFileError` (a ``ValueError``) naming the file for one that is
    corrupt, is not a brain_ai checkpoint, holds non-finite weights, or comes from an incompatible version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    ckpt = read_checkpoint_file(path)
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hparams, dict) or "snn" not in hparams or "state_dict" not in ckpt:
        raise InputFileError(f"{path}: not a brain_ai training checkpoint (no hyper_parameters['snn'] / state_dict)")
    check_finite_weights(ckpt["state_dict"], path)
    try:
        net = build_snn(from_dict(SNNConfig, hparams["snn"]))
        state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
        net.load_state_dict(state)
    except (ConfigError, RuntimeError, TypeError) as err:
        raise InputFileError(f"{path}: checkpoint does not match this brain_ai version's network ({err})") from err
    net.eval()
    return net, dict(hparams)


def write_graph(graph: nir.NIRGraph, path: PathLike) -> Path:
    """Write ``graph`` with ``nir.write`` (into memory), then to ``path`` with
    :func:`brain_ai.app.safe_files.write_atomic`.

    A failure leaves no half-written ``path`` behind (and an existing file untouched); the file
    gets the user's umask, like any new file (``tempfile.mkstemp`` would make it 0600). A folder
    that cannot be created or written raises :class:`~brain_ai.errors.InputFileError` naming the file.
    """
    path = Path(path)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: f.write(buffer.getvalue()))
    except OSError as err:
        raise InputFileError(f"{path}: cannot write the NIR file there ({type(err).__name__}: {err})") from err
    return path


def read_graph(path: PathLike) -> nir.NIRGraph:
    """``nir.read(path)`` with errors that name the file: missing (``FileNotFoundError``), not a NIR
    file, not a graph, or a node parameter that is NaN or infinite (:class:`InputFileError`, a ``ValueError``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {str(path)!r} does not exist")
    try:
        graph = nir.read(str(path))
    except Exception as err:  # h5py / nir raise OSError, KeyError, AssertionError, ... on bad files
        raise InputFileError(
            f"{path}: not a readable NIR file, nir.read failed ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(graph, nir.NIRGraph):
        raise InputFileError(f"{path}: holds a single {type(graph).__name__} node, not a NIR graph")
    check_finite_parameters(graph, str(path))
    return graph


def check_finite_parameters(graph: nir.NIRGraph, source: str) -> None:
    """Refuse a graph with a NaN or infinite value in any node's parameters (nested graphs included),
    naming ``source`` (the file), each node and its parameter (:class:`InputFileError`)."""
    bad = []

    def walk(node: nir.NIRNode, name: str) -> None:
        if isinstance(node, nir.NIRGraph):
            for child, sub in node.nodes.items():
                walk(sub, f"{name}.{child}" if name else child)
            return
        for f in dataclasses.fields(node):
            if f.name in ("input_type", "output_type", "metadata"):  # shapes and annotations, not parameters
                continue
            value = np.asarray(getattr(node, f.name))
            if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
                bad.append(f"{name}.{f.name}")

    walk(graph, "")
    if bad:
        raise InputFileError(
            f"{source}: non-finite parameters (NaN or Inf) in node {', '.join(bad)}; the network would compute NaN"
        )
