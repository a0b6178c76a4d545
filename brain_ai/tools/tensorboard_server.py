"""Serve a run or sweep directory with TensorBoard and read it back through its HTTP data API.

What a user does (``tensorboard --logdir ...``), scripted: :func:`serve` starts TensorBoard's own
program (``python -m tensorboard.main``) on 127.0.0.1 and a free port and waits until it lists the
runs; :func:`get_json` / :func:`get_bytes` / :func:`post_json` read its ``/data/...`` routes. Used
by the TensorBoard tests and by ``scripts/tensorboard_screenshots.py``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Optional

#: what TensorBoard's event files are called
EVENT_GLOB = "events.out.tfevents.*"


def event_dirs(logdir: Path) -> List[Path]:
    """The directories under ``logdir`` that hold TensorBoard event files (the runs TensorBoard shows).

    Raises ``FileNotFoundError`` naming ``logdir`` when it does not exist or holds no event file.
    """
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise FileNotFoundError(f"logdir={str(logdir)!r} is not a directory")
    dirs = sorted({p.parent for p in logdir.rglob(EVENT_GLOB)})
    if not dirs:
        raise FileNotFoundError(
            f"logdir={str(logdir)!r} holds no TensorBoard event files ({EVENT_GLOB}); point it at a run's "
            f"tensorboard/ directory, a run directory or a sweep directory of a run with logger=tensorboard"
        )
    return dirs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_bytes(base: str, route: str, timeout: float = 30.0) -> bytes:
    """GET ``base + route``; the response body."""
    with urllib.request.urlopen(base + route, timeout=timeout) as response:
        return response.read()


def get_json(base: str, route: str, timeout: float = 30.0) -> Any:
    """GET ``base + route`` and decode its JSON."""
    return json.loads(get_bytes(base, route, timeout))


def post_json(base: str, route: str, body: Any, timeout: float = 30.0) -> Any:
    """POST ``body`` as JSON to ``base + route`` (the hparams plugin's routes) and decode the reply."""
    request = urllib.request.Request(
        base + route, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def serve(logdir: Path, min_runs: int = 1, timeout: float = 120.0, port: Optional[int] = None) -> Iterator[str]:
    """Run TensorBoard on ``logdir`` until the block ends; yields its base URL (``http://127.0.0.1:<port>``).

    Waits until ``/data/runs`` lists at least ``min_runs`` runs (at most ``timeout`` seconds; then
    ``TimeoutError`` with TensorBoard's last output). ``logdir`` must hold event files
    (:func:`event_dirs`).
    """
    event_dirs(logdir)
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reload_interval",
        "1",
    ]
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(
                        f"TensorBoard exited with code {proc.returncode}: {output.read().decode()[-2000:]}"
                    )
                try:
                    if len(get_json(base, "/data/runs", timeout=5.0)) >= min_runs:
                        break
                except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                    pass
                if time.monotonic() > deadline:
                    output.seek(0)
                    raise TimeoutError(
                        f"TensorBoard on {logdir} listed fewer than {min_runs} runs after {timeout} s: {output.read().decode()[-2000:]}"
                    )
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
