"""Checkpoints are data, never code: every checkpoint brain_ai reads goes through here.

* :func:`local_checkpoint` turns ``ckpt_path`` into a local file. A URL (anything with a scheme,
  ``http://``, ``s3://``, ...) is refused unless ``allow_remote_ckpt=true``; then it is downloaded
  by us into a temporary file, so Lightning never fetches (and unpickles) it itself.
* :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` -- tensors and plain
  data only, so a pickle with a ``__reduce__`` payload is refused before anything runs -- and
  checks it is a brain_ai training checkpoint. Every failure names the file and what was expected.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence
from urllib.parse import urlparse

import torch

from brain_ai.config import LossConfig
from brain_ai.errors import InputFileError

#: keys of the hyper-parameters brain_ai's SNNLitModule stores (``save_hyperparameters``)
MODEL_HPARAMS = ("snn", "encoding", "decoding", "loss", "optim", "num_outputs")
#: hyper-parameters renamed since: old name -> new name (checkpoints of the last release load
#: with the new name; ``SNNLitModule`` itself still accepts the old one, with a warning)
RENAMED_HPARAMS = {"num_classes": "num_outputs"}
#: what Lightning needs, beyond the weights, to resume training
RESUME_KEYS = ("epoch", "global_step", "optimizer_states", "loops")


def renamed_keys(values: Dict[str, Any], renames: Dict[str, str]) -> Dict[str, Any]:
    """A copy of ``values`` with each ``old`` key of ``renames`` moved to its new name.

    A None under the old key (what newer files store under a deprecated alias) is dropped. Where
    both keys hold a value, both stay: the reader's own check then names the conflict instead of
    one value silently replacing the other.
    """
    out = dict(values)
    for old, new in renames.items():
        if out.get(old) is None:
            out.pop(old, None)
        elif out.get(new) is None:
            out[new] = out.pop(old)
    return out


def is_remote(path: str) -> bool:
    """``True`` for URLs (``scheme://...``) other than ``file://``; Windows drive letters are local."""
    scheme = urlparse(str(path)).scheme
    return len(scheme) > 1 and scheme != "file"


@contextlib.contextmanager
def local_checkpoint(path: str, *, allow_remote: bool = False, field: str = "ckpt_path") -> Iterator[Path]:
    """Yield a local file holding the checkpoint ``path`` (a downloaded copy is deleted afterwards).

    Raises :class:`InputFileError` for a URL without ``allow_remote`` or a failed download, and
    ``FileNotFoundError`` for a local path that is not a file.
    """
    text = str(path)
    if not is_remote(text):
        local = Path(text.removeprefix("file://")).expanduser()
        if not local.is_file():
            raise FileNotFoundError(f"{field}={text!r} does not exist or is not a file; pass {field}=<run dir>/checkpoints/<file>.ckpt")
        yield local
        return
    if not allow_remote:
        raise InputFileError(
            f"{field}={text!r} is not a local file. Checkpoints are read only from local files: download it yourself "
            f"and pass the local path, or pass allow_remote_ckpt=true to let brain_ai download it (it is then "
            f"still loaded as data only, torch.load(weights_only=True))"
        )
    folder = Path(tempfile.mkdtemp(prefix="brain_ai_ckpt_"))
    try:
        target = folder / "remote.ckpt"
        try:
            with urllib.request.urlopen(text, timeout=60) as response, target.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise InputFileError(f"{field}={text!r}: download failed ({err}); download it yourself and pass the local path") from err
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load_checkpoint(path: Path, *, field: str = "ckpt_path", need: Sequence[str] = ()) -> Dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a brain_ai checkpoint, with errors that name the file.

    Checks that the file holds ``state_dict`` and brain_ai's ``hyper_parameters``
    (:data:`MODEL_HPARAMS`, old names of :data:`RENAMED_HPARAMS` renamed) plus the keys in
    ``need`` (e.g. :data:`RESUME_KEYS` to resume).
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, IndexError, ... here
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Unsupported global" in str(err):
            raise InputFileError(
                f"{field}={str(path)!r} was refused: it holds Python objects other than tensors and plain data "
                f"({_unsupported_global(str(err))}), which would run code when unpickled. brain_ai checkpoints never "
                f"do; do not load files from an untrusted source"
            ) from None
        raise InputFileError(
            f"{field}={str(path)!r} is not a readable PyTorch checkpoint (truncated or corrupt?): {first_line}. "
            f"Expected a .ckpt file written by train.py"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        kind = "a plain state_dict (parameter names -> tensors)" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise InputFileError(
            f"{field}={str(path)!r} holds {kind}, not a brain_ai training checkpoint; expected a .ckpt file written "
            f"by train.py (keys state_dict, hyper_parameters, ...)"
        )
    hparams = ckpt.get("hyper_parameters")
    if isinstance(hparams, dict):
        hparams = ckpt["hyper_parameters"] = renamed_keys(hparams, RENAMED_HPARAMS)
    missing = [k for k in MODEL_HPARAMS if not isinstance(hparams, dict) or k not in hparams]
    missing += [k for k in need if k not in ckpt]
    if missing:
        raise InputFileError(
            f"{field}={str(path)!r} is a Lightning checkpoint without {', '.join(missing)}; expected a .ckpt file "
            f"written by brain_ai's train.py{' (a full checkpoint, not weights only, to resume)' if need else ''}"
        )
    return ckpt


def _unsupported_global(message: str) -> str:
    """The offending ``GLOBAL module.name`` of torch's weights_only refusal message."""
    for line in message.splitlines():
        if "Unsupported global" in line:
            return line.strip().rstrip(".")
    return "unsupported pickle content"


#: hyper-parameter groups whose change makes a resumed run a different model
RESUME_COMPARED = ("snn", "encoding", "decoding", "loss", "num_outputs", "task")
#: settings that change how the model is computed, never what it computes (free to change on resume)
EXECUTION_ONLY = frozenset({"snn.chunk_size", "snn.checkpoint", "snn.neuron.fused", "snn.neuron.backend"})


def hparam_changes(stored: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """``"<dotted key>: <stored> -> <current>"`` for every compared setting that differs.

    Keys the checkpoint does not have (settings added to brain_ai after it was written) are not
    compared; :data:`EXECUTION_ONLY` settings are ignored; a deprecated key of the checkpoint
    (``LossConfig.DEPRECATED``) is compared under its new name.
    """
    changes: List[str] = []
    if isinstance(stored.get("loss"), dict):
        stored = {**stored, "loss": renamed_keys(stored["loss"], LossConfig.DEPRECATED)}

    def walk(old: Any, new: Any, key: str) -> None:
        if key in EXECUTION_ONLY:
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for name in old:
                if name in new:
                    walk(old[name], new[name], f"{key}.{name}" if key else name)
        elif old != new:
            changes.append(f"{key}: {old!r} -> {new!r}")

    walk({k: stored[k] for k in RESUME_COMPARED if k in stored}, {k: current[k] for k in RESUME_COMPARED if k in current}, "")
    return changes


def check_resume_compatible(ckpt: Dict[str, Any], path: Path, model: torch.nn.Module, hparams: Dict[str, Any], allow_changes: bool) -> None:
    """Refuse to resume ``ckpt`` into a model configured differently (unless ``allow_changes``),
    and always when a weight's shape differs; messages list the differing settings / tensors."""
    changes = hparam_changes(dict(ckpt["hyper_parameters"]), dict(hparams))
    if changes and not allow_changes:
        raise InputFileError(
            f"ckpt_path={str(path)!r} was trained with other settings than this run: {'; '.join(changes)}. "
            f"Resume with the checkpoint's settings (see its run folder's .hydra/config.yaml), or pass "
            f"resume_allow_changes=true to resume with the new ones"
        )
    own = model.state_dict()
    stored = ckpt["state_dict"]
    shapes = [f"{k}: {tuple(v.shape)} -> {tuple(own[k].shape)}" for k, v in stored.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = sorted(set(own) - set(stored))
    if shapes or missing:
        detail = "; ".join(shapes + [f"{k}: missing in the checkpoint" for k in missing[:5]])
        raise InputFileError(
            f"ckpt_path={str(path)!r} cannot be resumed into this network: {detail}"
            f"{' (changed: ' + '; '.join(changes) + ')' if changes else ''}. Resume with the checkpoint's architecture"
        )
