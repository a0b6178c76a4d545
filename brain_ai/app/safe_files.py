"""Output files that never destroy anything: each check fails before work is done, each write is whole.

* :func:`check_writable` -- a folder can be written (checked before training / evaluating);
* :func:`write_atomic` -- a file is written to a temporary file in its folder, fsync'ed and
  renamed over the target: a full or read-only disk leaves the previous file, never a truncated
  one that looks valid (checkpoints: :class:`brain_ai.app.run_guard.AtomicCheckpointIO`; JSON
  reports: :func:`write_json_atomic`);
* :func:`refuse_overwriting_input` -- an output path that names an input file is refused.

Plain Python (no Lightning): the NIR export uses it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Dict

from brain_ai.errors import InputFileError


def check_writable(folder: Path | str, field: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; else :class:`InputFileError`."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
            pass
    except OSError as err:
        raise InputFileError(
            f"{field}={str(path)!r} is not a writable folder ({err.strerror or err}); choose another one "
            f"(e.g. hydra.run.dir=<folder> on the command line)"
        ) from None
    return path


def write_atomic(path: Path | str, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it and rename it to ``path``.

    Any failure (``OSError`` 28 on a full disk, a read-only folder, an exception in ``write``)
    removes the temporary file and leaves ``path`` as it was: whole or absent. Raises what failed.
    """
    target = Path(path).expanduser()
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as f:  # created with the user's umask, as the final file would be
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut (not on every OS / file system)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_json_atomic(path: Path | str, payload: Any, field: str = "output_json") -> None:
    """Write ``payload`` as JSON to ``path`` via :func:`write_atomic`."""
    target = Path(path).expanduser()
    check_writable(target.parent, f"{field} folder")
    if target.is_dir():
        raise InputFileError(f"{field}={str(target)!r} is a folder; expected a file name such as report.json")
    write_atomic(target, lambda f: f.write(json.dumps(payload, indent=2).encode()))


def refuse_overwriting_input(output: Path | str, field: str, inputs: Dict[str, Any]) -> None:
    """Raise :class:`InputFileError` when the output file ``output`` is one of ``inputs`` (field -> path).

    Paths are compared after resolving ``~``, ``..`` and symbolic links (and as the same file, for
    hard links), so no spelling of the input slips through.
    """
    out = Path(str(output)).expanduser().resolve()
    for name, value in inputs.items():
        if value is None:
            continue
        source = Path(str(value).removeprefix("file://")).expanduser().resolve()
        same = out == source or (out.exists() and source.exists() and os.path.samefile(out, source))
        if same:
            raise InputFileError(
                f"{field}={str(output)!r} is the input file {name}={str(value)!r}: writing it would destroy the input. "
                f"Choose another {field}"
            )
