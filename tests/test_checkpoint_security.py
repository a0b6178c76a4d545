"""Checkpoints are data, never code: planted malicious checkpoints (local and on a loopback HTTP
server) are refused by train and evaluate and their payload never runs."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.errors import InputFileError
from brain_ai.training.checkpoints import is_remote, load_checkpoint


class Payload:
    """Unpickling this object opens (creates) ``marker``: the stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(folder: Path, marker: Path) -> Path:
    """A checkpoint-shaped file whose state_dict holds the payload."""
    path = folder / "evil.ckpt"
    torch.save({"state_dict": {"w": Payload(marker)}, "hyper_parameters": {}}, path)
    return path


@pytest.fixture()
def served(tmp_path):
    """(folder, base URL) of a loopback HTTP server serving ``folder``."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_payload_is_live_without_weights_only(tmp_path):
    """Control: the planted file really runs code when unpickled the unsafe way."""
    marker = tmp_path / "control_marker"
    torch.load(plant(tmp_path, marker), weights_only=False)
    assert marker.exists()


def test_load_checkpoint_refuses_the_payload(tmp_path):
    marker = tmp_path / "marker"
    evil = plant(tmp_path, marker)
    with pytest.raises(InputFileError, match=r"evil\.ckpt.*refused.*Unsupported global"):
        load_checkpoint(evil)
    assert not marker.exists()


@pytest.mark.parametrize("config_name", ["train", "evaluate"])
def test_local_malicious_checkpoint_is_refused(tmp_path, config_name):
    marker = tmp_path / "marker"
    evil = plant(tmp_path, marker)
    overrides = [*TINY, f"ckpt_path={evil}"] if config_name == "train" else [f"ckpt_path={evil}"]
    cfg = compose_config(overrides, output_dir=tmp_path / "run", config_name=config_name)
    run = pipeline.train if config_name == "train" else pipeline.evaluate
    with pytest.raises(InputFileError, match="evil.ckpt"):
        run(cfg)
    assert not marker.exists()
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


@pytest.mark.parametrize("config_name", ["train", "evaluate"])
@pytest.mark.parametrize("allow", [False, True])
def test_remote_malicious_checkpoint_is_refused(tmp_path, served, config_name, allow):
    folder, base = served
    marker = tmp_path / "marker"
    plant(folder, marker)
    url = f"{base}/evil.ckpt"
    common = [f"ckpt_path={url}", f"allow_remote_ckpt={str(allow).lower()}"]
    overrides = [*TINY, *common] if config_name == "train" else common
    cfg = compose_config(overrides, output_dir=tmp_path / "run", config_name=config_name)
    run = pipeline.train if config_name == "train" else pipeline.evaluate
    expected = "refused: it holds Python objects" if allow else "is not a local file.*allow_remote_ckpt=true"
    with pytest.raises(InputFileError, match=expected):
        run(cfg)
    assert not marker.exists()


def test_remote_checkpoint_is_evaluated_when_allowed(short_run, tmp_path, served):
    folder, base = served
    best = next((short_run.output_dir / "checkpoints").glob("epoch_*.ckpt"))
    (folder / "good.ckpt").write_bytes(best.read_bytes())
    cfg = compose_config(
        [
            f"ckpt_path={base}/good.ckpt",
            "allow_remote_ckpt=true",
            "+trainer.limit_test_batches=2",
            "trainer.enable_progress_bar=false",
        ],
        output_dir=tmp_path,
        config_name="evaluate",
    )
    payload = pipeline.evaluate(cfg)
    assert payload["metrics"]["test/acc"] == pytest.approx(short_run.metrics["test/acc"], abs=1e-6)


@pytest.mark.parametrize(
    "path, remote",
    [
        ("http://h/x.ckpt", True),
        ("https://h/x", True),
        ("s3://b/k", True),
        ("file:///tmp/x.ckpt", False),
        ("/tmp/x.ckpt", False),
        ("runs/last.ckpt", False),
        ("C:/runs/x.ckpt", False),
    ],
)
def test_is_remote(path, remote):
    assert is_remote(path) is remote
