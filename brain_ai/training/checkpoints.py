"""Checkpoints are data, never code: every checkpoint brain_ai reads goes through here.

* :func:`local_checkpoint` turns ``ckpt_path`` into a local file. A URL (anything with a scheme,
  ``http://``, ``s3://``, ...) is refused unless ``allow_remote_ckpt=true``; then it is downloaded
  by us into a temporary file (within :class:`RemoteCheckpoints`' time and size limits), so
  Lightning never fetches (and unpickles) it itself.
* :func:`read_checkpoint_file` checks the zip's CRCs, then reads it with
  ``torch.load(weights_only=True)`` -- tensors and plain data only, so a pickle with a
  ``__reduce__`` payload is refused, naming the global, before anything runs;
  :func:`load_checkpoint` also checks it is a brain_ai training checkpoint with finite weights.
  Every failure names the file and what was expected.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import shutil
import signal
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence
from urllib.parse import urlparse

import torch

from brain_ai.config import ConfigError, DataConfig, LossConfig, execution_only_settings
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


@dataclass(frozen=True)
class RemoteCheckpoints:
    """Whether a ``ckpt_path`` URL may be downloaded (``allow_remote_ckpt``), and within which limits.

    ``timeout_s`` (``remote_ckpt_timeout_s``): seconds the whole download may take, connecting
    included; ``max_mb`` (``remote_ckpt_max_mb``): the largest file accepted, in MiB.
    """

    allowed: bool
    timeout_s: float
    max_mb: float

    def __post_init__(self) -> None:
        for name, value in (("remote_ckpt_timeout_s", self.timeout_s), ("remote_ckpt_max_mb", self.max_mb)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a finite number > 0")


@contextlib.contextmanager
def local_checkpoint(path: str, remote: RemoteCheckpoints, *, field: str = "ckpt_path") -> Iterator[Path]:
    """Yield a local file holding the checkpoint ``path``.

    A URL is downloaded (only if ``remote.allowed``) into a temporary folder that is removed when
    the block ends, on an error, and on SIGTERM (which then ends the process with status 143).
    Raises :class:`InputFileError` for a URL without ``remote.allowed`` or a failed, too slow or
    too large download (naming the URL), and ``FileNotFoundError`` for a local path that is not a file.
    """
    text = str(path)
    if not is_remote(text):
        local = Path(text.removeprefix("file://")).expanduser()
        if not local.is_file():
            raise FileNotFoundError(
                f"{field}={text!r} does not exist or is not a file; pass {field}=<run dir>/checkpoints/<file>.ckpt"
            )
        yield local
        return
    if not remote.allowed:
        raise InputFileError(
            f"{field}={text!r} is not a local file. Checkpoints are read only from local files: download it yourself "
            f"and pass the local path, or pass allow_remote_ckpt=true to let brain_ai download it (it is then "
            f"still loaded as data only, torch.load(weights_only=True))"
        )
    with _exit_on_sigterm():
        folder = Path(tempfile.mkdtemp(prefix="brain_ai_ckpt_"))
        try:
            target = folder / "remote.ckpt"
            _download(text, target, remote, field)
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Inside the block, SIGTERM raises ``SystemExit(143)`` so that ``finally`` clauses run (the
    default action kills the process on the spot). Only the main thread can set signal handlers;
    elsewhere the block runs unchanged. A handler set before (e.g. a launcher's) is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _download(url: str, target: Path, remote: RemoteCheckpoints, field: str) -> None:
    """Copy ``url`` to ``target`` within ``remote.timeout_s`` seconds in all and ``remote.max_mb`` MiB.

    The transfer runs in a daemon thread that the caller waits for at most ``timeout_s``: a server
    that trickles bytes or never answers cannot hold the run longer. An abandoned transfer stops
    at its next block (or socket timeout) and writes only into the temporary folder.
    """
    cap = int(remote.max_mb * 2**20)
    limit = f"remote_ckpt_max_mb={remote.max_mb:g}"
    abandoned = threading.Event()
    failure: List[BaseException] = []

    def fetch() -> None:
        try:
            with urllib.request.urlopen(url, timeout=remote.timeout_s) as response, target.open("wb") as out:
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > cap:
                    raise InputFileError(
                        f"{field}={url!r} is {int(announced) / 2**20:.1f} MiB, more than {limit}; raise it, or download the file yourself"
                    )
                size = 0
                while not abandoned.is_set() and (block := response.read1(1 << 16)):
                    size += len(block)
                    if size > cap:
                        raise InputFileError(
                            f"{field}={url!r} sent more than {limit} (the download was stopped there); raise it, or download the file yourself"
                        )
                    out.write(block)
        except BaseException as err:  # handed to the waiting thread
            failure.append(err)

    too_slow = InputFileError(
        f"{field}={url!r}: the download did not finish within remote_ckpt_timeout_s={remote.timeout_s:g} s; "
        f"raise it for a slow connection, or download the file yourself and pass the local path"
    )
    thread = threading.Thread(target=fetch, name="brain_ai-ckpt-download", daemon=True)
    thread.start()
    thread.join(remote.timeout_s)
    if thread.is_alive():
        abandoned.set()
        raise too_slow
    if failure:
        err = failure[0]
        if isinstance(err, InputFileError):
            raise err
        if isinstance(getattr(err, "reason", err), TimeoutError):  # the socket's own timeout, same limit
            raise too_slow from None
        if isinstance(err, (urllib.error.URLError, OSError, ValueError, http.client.HTTPException)):
            raise InputFileError(
                f"{field}={url!r}: download failed ({err}); download it yourself and pass the local path"
            ) from None
        raise err


def load_checkpoint(path: Path, *, field: str = "ckpt_path", need: Sequence[str] = ()) -> Dict[str, Any]:
    """A brain_ai checkpoint read by :func:`read_checkpoint_file`, with errors that name the file.

    Checks that the file holds ``state_dict`` and brain_ai's ``hyper_parameters``
    (:data:`MODEL_HPARAMS`, old names of :data:`RENAMED_HPARAMS` renamed) plus the keys in
    ``need`` (e.g. :data:`RESUME_KEYS` to resume), and that every tensor of the state_dict is finite.
    """
    ckpt = read_checkpoint_file(path, field=field)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        kind = (
            "a plain state_dict (parameter names -> tensors)" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        )
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
    check_finite_weights(ckpt["state_dict"], path, field=field)
    return ckpt


def read_checkpoint_file(path: Path, *, field: str = "ckpt_path") -> Any:
    """``torch.load(path, weights_only=True)`` after checking the bytes against the file's own CRCs.

    torch's zip reader never checks the CRC-32 of a member, so a flipped weight byte would load
    silently: :func:`check_zip_crcs` reads the file once first. Every failure is an
    :class:`InputFileError` naming ``field``, the file and what is wrong (a refused pickle global by name).
    """
    check_zip_crcs(path, field=field)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, IndexError, ... here
        reason = _load_failure(str(err)) or type(err).__name__
        if "GLOBAL " in reason:
            raise InputFileError(
                f"{field}={str(path)!r} was refused: it holds Python objects other than tensors and plain data "
                f"({reason}), which would run code when unpickled. brain_ai checkpoints never do; do not load "
                f"files from an untrusted source"
            ) from None
        raise InputFileError(
            f"{field}={str(path)!r} is not a readable PyTorch checkpoint (truncated or corrupt?): {reason}. "
            f"Expected a .ckpt file written by train.py"
        ) from None


def check_zip_crcs(path: Path, *, field: str = "ckpt_path") -> None:
    """Refuse a zip-format checkpoint (torch >= 1.6) whose members fail their CRC-32 check, naming the member.

    Streams each member once (``ZipFile.testzip``, 1 MiB blocks); other files are left to ``torch.load``.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise InputFileError(
            f"{field}={str(path)!r} is a corrupt checkpoint: its zip structure is damaged ({err})"
        ) from None
    if bad is not None:
        raise InputFileError(
            f"{field}={str(path)!r} is corrupt: member {bad!r} does not match its CRC-32 checksum (the file was altered "
            f"or damaged after it was written); use an intact copy"
        )


def check_finite_weights(tensors: Dict[str, Any], path: Path, *, field: str = "ckpt_path") -> None:
    """Refuse a state_dict with a NaN or infinite value in any floating-point tensor, naming the tensors."""
    bad = [
        name
        for name, value in tensors.items()
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InputFileError(
            f"{field}={str(path)!r} holds non-finite weights (NaN or Inf) in {shown}; the network would compute "
            f"NaN. Use a checkpoint saved before training diverged"
        )


def _load_failure(message: str) -> str:
    """The reason in torch's load error, without its hint to retry with ``weights_only=False``.

    For a refused pickle global this is the line naming it (``GLOBAL posix.system ...``).
    """
    lines = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in message.splitlines()]
    for line in lines:
        if "GLOBAL " in line:
            return line.split(" Please use")[0].rstrip(".")
    hints = ("Weights only load failed", "(1) In PyTorch", "(2) Alternatively", "Check the documentation")
    reasons = [line for line in lines if line and not line.startswith(hints) and "weights_only" not in line]
    return reasons[0].rstrip(".") if reasons else ""


#: hyper-parameter groups whose change makes a resumed run a different model (``data``: only its
#: :attr:`DataConfig.SAMPLE_FIELDS`, the fields that decide which samples it trains and validates on)
RESUME_COMPARED = ("snn", "encoding", "decoding", "loss", "num_outputs", "task", "data")


def hparam_changes(
    stored: Dict[str, Any], current: Dict[str, Any], groups: Sequence[str] = RESUME_COMPARED
) -> List[str]:
    """``"<dotted key>: <stored> -> <current>"`` for every setting of ``groups`` that differs.

    Keys the checkpoint does not have (settings added to brain_ai after it was written) are not
    compared; execution-only settings (:func:`~brain_ai.config.execution_only_settings`) are
    ignored; a deprecated key of the checkpoint (``LossConfig.DEPRECATED``) is compared under its
    new name.
    """
    changes: List[str] = []
    execution_only = execution_only_settings()
    if isinstance(stored.get("loss"), dict):
        stored = {**stored, "loss": renamed_keys(stored["loss"], LossConfig.DEPRECATED)}

    def walk(old: Any, new: Any, key: str) -> None:
        if key in execution_only:
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for name in old:
                if name in new:
                    walk(old[name], new[name], f"{key}.{name}" if key else name)
        elif old != new:
            changes.append(f"{key}: {old!r} -> {new!r}")

    def compared(hparams: Dict[str, Any]) -> Dict[str, Any]:
        out = {k: hparams[k] for k in groups if k in hparams}
        if isinstance(out.get("data"), dict):
            out["data"] = {k: v for k, v in out["data"].items() if k in DataConfig.SAMPLE_FIELDS}
        return out

    walk(compared(stored), compared(current), "")
    return changes


def epochs_done(ckpt: Dict[str, Any]) -> int:
    """Training epochs a checkpoint has finished (an epoch-end checkpoint of epoch ``e``: ``e + 1``)."""
    try:
        return int(ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):  # written without Lightning's loop state: its epoch index
        return int(ckpt.get("epoch", 0))


def check_resume_compatible(
    ckpt: Dict[str, Any],
    path: Path,
    model: torch.nn.Module,
    hparams: Dict[str, Any],
    allow_changes: bool,
    max_epochs: Optional[int] = None,
) -> None:
    """Refuse to resume ``ckpt`` when the run would not continue it; every message names what differs.

    Refused: another optimiser or optimiser / schedule setting (always: the checkpoint's optimiser
    state, learning rate and schedule are restored over them); ``max_epochs`` (``trainer.max_epochs``,
    ``None`` or ``-1``: unlimited) not above the epochs the checkpoint has done; a model or data
    split configured differently (unless ``allow_changes``); a weight whose shape differs (always).
    """
    stored_hparams = dict(ckpt["hyper_parameters"])
    optim = hparam_changes(stored_hparams, dict(hparams), groups=("optim",))
    if optim:
        raise InputFileError(
            f"ckpt_path={str(path)!r} was trained with other optimiser settings than this run: "
            f"{'; '.join(optim)}. Resuming restores the checkpoint's optimiser state, "
            f"learning rate and schedule, so these would be ignored (or, for another optimiser, fail): resume with the "
            f"checkpoint's optim settings{_settings_hint(path)}, or start a new run"
        )
    done = epochs_done(ckpt)
    if max_epochs is not None and max_epochs != -1 and max_epochs <= done:
        raise InputFileError(
            f"trainer.max_epochs={max_epochs} leaves nothing to train: ckpt_path={str(path)!r} has already trained "
            f"{done} epoch{'s' if done != 1 else ''}; allowed: trainer.max_epochs > {done} (evaluate.py tests a checkpoint "
            f"without training)"
        )
    changes = hparam_changes(stored_hparams, dict(hparams))
    if changes and not allow_changes:
        raise InputFileError(
            f"ckpt_path={str(path)!r} was trained with other settings than this run: {'; '.join(changes)}. "
            f"Resume with the checkpoint's settings{_settings_hint(path)}, or pass resume_allow_changes=true to resume "
            f"with the new ones"
        )
    own = model.state_dict()
    stored = ckpt["state_dict"]
    shapes = [
        f"{k}: {tuple(v.shape)} -> {tuple(own[k].shape)}"
        for k, v in stored.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = sorted(set(own) - set(stored))
    if shapes or missing:
        detail = "; ".join(shapes + [f"{k}: missing in the checkpoint" for k in missing[:5]])
        raise InputFileError(
            f"ckpt_path={str(path)!r} cannot be resumed into this network: {detail}"
            f"{' (changed: ' + '; '.join(changes) + ')' if changes else ''}. Resume with the checkpoint's architecture"
        )


def _settings_hint(path: Path) -> str:
    """`` (its run's latest resolved config: <file>)``, or `` (listed above: stored -> this run)``."""
    from brain_ai.training.run_history import latest_run_config  # Lightning: only when a message needs it

    config = latest_run_config(path)
    return (
        f" (they are in its run's latest resolved config, {config})"
        if config
        else " (listed above as checkpoint -> this run)"
    )
