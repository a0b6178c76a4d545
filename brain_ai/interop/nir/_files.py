"""Files: read a training checkpoint, read/write ``.nir`` files (atomically), checkpoint -> graph."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import nir
import torch

from brain_ai.config import ConfigError, SNNConfig, from_dict
from brain_ai.core.snn import ConvSNN, SNNCore, build_snn

PathLike = Union[str, Path]


def load_checkpoint(path: PathLike) -> Tuple[Union[SNNCore, ConvSNN], Dict[str, Any]]:
    """The network of a brain_ai training checkpoint and its hyper-parameters.

    Reads with ``torch.load(weights_only=True)`` (no pickled code runs). Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for one that is not
    a brain_ai checkpoint or comes from an incompatible version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt / non-torch file
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from err
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hparams, dict) or "snn" not in hparams or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a brain_ai training checkpoint (no hyper_parameters['snn'] / state_dict)")
    try:
        net = build_snn(from_dict(SNNConfig, hparams["snn"]))
        state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
        net.load_state_dict(state)
    except (ConfigError, RuntimeError, TypeError) as err:
        raise ValueError(f"{path}: checkpoint does not match this brain_ai version's network ({err})") from err
    net.eval()
    return net, dict(hparams)


def write_graph(graph: nir.NIRGraph, path: PathLike) -> Path:
    """Write ``graph`` with ``nir.write`` to a temporary file beside ``path``, then rename it.

    A failure leaves no half-written ``path`` behind (and an existing file untouched).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_graph(path: PathLike) -> nir.NIRGraph:
    """``nir.read(path)`` with errors that name the file (missing, or not a NIR file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {str(path)!r} does not exist")
    try:
        graph = nir.read(str(path))
    except Exception as err:  # h5py / nir raise OSError, KeyError, AssertionError, ... on bad files
        raise ValueError(f"{path}: not a readable NIR file ({type(err).__name__}: {err})") from err
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"{path}: holds a single {type(graph).__name__} node, not a NIR graph")
    return graph
