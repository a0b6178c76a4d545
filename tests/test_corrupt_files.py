"""Corrupt, hostile or slow inputs that need more than a one-line case (issue 23, files):
remote checkpoints from a loopback server that stalls, trickles, streams forever or announces too
much; their temporary folder on errors and on SIGTERM; evaluate.py never downloading data; event
recordings out of time order."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from framework_helpers import REPO, compose_config, untrained_checkpoint

from brain_ai.errors import InputFileError
from brain_ai.training.checkpoints import RemoteCheckpoints, local_checkpoint

#: the longest a stalling handler keeps its connection open (the server's threads are daemons)
HANDLER_LIMIT_S = 30


class Behaviours(http.server.BaseHTTPRequestHandler):
    """``GET /<mode>``: ``silent`` never answers, ``trickle`` sends a byte every 50 ms, ``endless``
    streams zeros, ``huge`` announces 5 GiB, ``good`` sends a 10-byte file, anything else is a 404.
    Every handler ends when the server's ``stop`` event is set or after :data:`HANDLER_LIMIT_S`."""

    stop: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        mode = self.path.strip("/")
        if mode == "silent":
            self.stop.wait(HANDLER_LIMIT_S)
            return
        if mode not in ("trickle", "endless", "huge", "good"):
            self.send_error(404)
            return
        self.send_response(200)
        if mode in ("huge", "good"):  # the others send no length: the body ends when the connection closes
            self.send_header("Content-Length", str(5 * 2**30) if mode == "huge" else "10")
        self.end_headers()
        if mode == "good":
            self.wfile.write(b"0123456789")
            return
        end = time.monotonic() + HANDLER_LIMIT_S
        block = b"\0" * (1 if mode == "trickle" else 1 << 16)
        try:
            while not self.stop.is_set() and time.monotonic() < end:
                self.wfile.write(block)
                if mode == "trickle":
                    self.stop.wait(0.05)
        except OSError:  # the client went away
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    """Base URL of a loopback (127.0.0.1) server with :class:`Behaviours`."""
    stop = threading.Event()
    handler = type("Handler", (Behaviours,), {"stop": stop})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def temp_root(tmp_path, monkeypatch) -> Path:
    """The folder ``tempfile`` creates the download folders in (to check they are removed)."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def fetch(url: str, timeout_s: float = 1.0, max_mb: float = 1.0) -> bytes:
    with local_checkpoint(url, RemoteCheckpoints(True, timeout_s, max_mb)) as path:
        return path.read_bytes()


@pytest.mark.parametrize(
    "mode, timeout_s, expected",
    [
        (
            "silent",
            1,
            "did not finish within remote_ckpt_timeout_s=1 s",
        ),  # before: hung (urlopen's 60 s per read, forever)
        ("trickle", 1, "did not finish within remote_ckpt_timeout_s=1 s"),  # before: hung (every read inside the 60 s)
        ("endless", 60, "sent more than remote_ckpt_max_mb=1"),  # before: filled the disk
        ("huge", 60, "is 5120.0 MiB, more than remote_ckpt_max_mb=1"),  # refused from the header, nothing read
        ("missing", 60, "download failed (HTTP Error 404"),
    ],
)
def test_remote_download_limits_name_the_url_and_leave_no_folder(server, temp_root, mode, timeout_s, expected):
    url = f"{server}/{mode}"
    with pytest.raises(InputFileError) as err:
        fetch(url, timeout_s=timeout_s)
    assert f"ckpt_path={url!r}" in str(err.value) and expected in str(err.value)
    assert list(temp_root.iterdir()) == []


def test_remote_download_within_the_limits(server, temp_root):
    assert fetch(f"{server}/good") == b"0123456789"
    assert list(temp_root.iterdir()) == []


CHILD = """
import sys, time
from brain_ai.training.checkpoints import RemoteCheckpoints, local_checkpoint
with local_checkpoint(sys.argv[1], RemoteCheckpoints(True, 120, 100)) as path:
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("mode", ["trickle", "good"])  # SIGTERM during the download / while the file is used
def test_sigterm_removes_the_download_folder(server, tmp_path, mode):
    root = tmp_path / "tmp"
    root.mkdir()
    env = {"PYTHONPATH": str(REPO), "TMPDIR": str(root), "PATH": "/usr/bin:/bin"}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), f"{server}/{mode}"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        if mode == "good":
            assert child.stdout.readline().strip() == "ready"
        else:  # wait for the download folder to appear
            for _ in range(600):
                if list(root.glob("brain_ai_ckpt_*/remote.ckpt")):
                    break
                time.sleep(0.1)
        assert list(root.glob("brain_ai_ckpt_*")), "the download never started"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert list(root.iterdir()) == []


def test_evaluate_never_downloads_data(tmp_path, monkeypatch):
    """A checkpoint whose hparams say data.download=true does not make evaluate.py fetch MNIST
    (before: it downloaded into data_root); the error says the files are missing and where."""
    import socket

    from brain_ai.app import pipeline

    ckpt = untrained_checkpoint(tmp_path / "mnist.ckpt", data={"name": "mnist", "download": True})
    connections = []

    def refuse(*args, **kwargs):
        connections.append(args)
        raise OSError("network refused by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cfg = compose_config(
        [f"ckpt_path={ckpt}", f"data_root={tmp_path / 'data'}"], output_dir=tmp_path / "run", config_name="evaluate"
    )
    with pytest.raises(FileNotFoundError) as err:
        pipeline.evaluate(cfg)
    assert "evaluate.py never downloads" in str(err.value) and "train-images-idx3-ubyte" in str(err.value)
    assert connections == []
    assert not list((tmp_path / "data").rglob("*-ubyte*"))


def shd_events(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    rec = np.zeros(len(t), np.dtype([("t", "<i8"), ("x", "<i8"), ("p", "<i8")]))
    rec["t"], rec["x"], rec["p"] = t, x, 1
    return rec


def test_events_out_of_time_order_are_binned_as_if_sorted():
    """ToFrame assumes time order (before: an unsorted recording gave all-silent frames)."""
    import tonic

    from brain_ai.data.events import checked_events

    order = np.array([3, 0, 2, 1, 4])
    t, x = np.array([0, 1000, 2000, 3000, 4000]), np.array([1, 2, 3, 4, 5])
    shuffled = checked_events(shd_events(t[order], x[order]), (700, 1, 1), "rec")
    assert shuffled["t"].tolist() == t.tolist() and shuffled["x"].tolist() == x.tolist()
    to_frame = tonic.transforms.ToFrame((700, 1, 1), n_time_bins=4)
    np.testing.assert_array_equal(to_frame(shuffled), to_frame(shd_events(t, x)))
    assert to_frame(shd_events(t[order], x[order])).sum() == 0  # the control: tonic alone bins it to nothing
