"""The app-layer entry points: ``export.py``'s body and the ``.nir`` branch of ``evaluate.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

from brain_ai.app.safe_files import refuse_overwriting_input
from brain_ai.config import to_dict
from brain_ai.interop.nir._export import export, not_exact_message
from brain_ai.interop.nir._files import read_graph, write_graph
from brain_ai.interop.nir._load import load
from brain_ai.interop.nir._mapping import DEFAULT_DT, HPARAMS_KEY, NIRExportError


def export_file(
    ckpt_path: Union[str, Path], output: Union[str, Path], *, dt: Optional[float] = None, approximate: bool = False
) -> Path:
    """Export a training checkpoint to the ``.nir`` file ``output`` (written atomically); returns its path.

    ``dt=None`` uses :data:`DEFAULT_DT`. Prints one line naming the file and its node count. An
    ``output`` that is the checkpoint itself is refused (:class:`brain_ai.errors.InputFileError`).
    """
    refuse_overwriting_input(output, "output", {"ckpt_path": ckpt_path})
    graph = export(ckpt_path, dt=DEFAULT_DT if dt is None else float(dt), approximate=bool(approximate))
    path = write_graph(graph, output)
    print(f"wrote {path} ({len(graph.nodes)} NIR nodes, dt={graph.metadata['dt']:g} s)")
    return path


def export_command(cfg: Any) -> Path:
    """``export.py``'s body: :func:`export_file` with the composed config's validated settings
    (:class:`brain_ai.config.run_config.ExportSettings`); an inexact network's refusal names the
    command-line form ``approximate=true``."""
    from brain_ai.config.validate import run_settings, validate_config

    validate_config(cfg)
    settings = run_settings(cfg)
    try:
        return export_file(settings.ckpt_path, settings.output, dt=settings.dt, approximate=settings.approximate)
    except NIRExportError as err:
        if not err.approximations:
            raise
        raise NIRExportError(not_exact_message(err.approximations, "approximate=true"), err.approximations) from None


def lit_module_from_nir(path: Union[str, Path]) -> Any:
    """An ``SNNLitModule`` (eval mode) whose network is loaded from a ``.nir`` file brain_ai exported.

    The codec, loss and data settings come from the training hyper-parameters that :func:`export`
    records in the graph's metadata; a graph without them (written by another tool) cannot be
    evaluated by ``evaluate.py``: load it with :func:`load` instead.
    """
    from brain_ai.training.module import SNNLitModule  # app layer only: keeps lightning out of export/load

    graph = read_graph(path)
    raw = graph.metadata.get(HPARAMS_KEY) if isinstance(graph.metadata, dict) else None
    if raw is None:
        raise ValueError(
            f"{path}: this NIR graph carries no brain_ai training metadata ({HPARAMS_KEY}: encoding, decoding, data), "
            "so evaluate.py cannot rebuild its data and codec; export it from a brain_ai checkpoint, or load it with "
            "brain_ai.interop.nir.load"
        )
    hparams = json.loads(raw)
    net = load(graph)
    model = SNNLitModule(**{**hparams, "snn": to_dict(net.cfg)})
    model.net = net
    return model.eval()
