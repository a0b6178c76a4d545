"""Train every static encoder x decoder x task loss briefly on data=digits and report test accuracy.

``python scripts/codec_combinations.py [--epochs 3] [--hidden 64] [--num-steps 16] [--encoders a,b] [--refused] [--json out.json]``

Combinations that :func:`brain_ai.config.compat.check_codec` refuses are listed with its message; with
``--refused`` they are also trained (the check bypassed) to show that the refusal is deserved.
``decoding=membrane`` runs with ``snn.readout=membrane`` (the readout it needs); the loss group of
each task loss is the one its preset uses (probspikes: rate_classification, first_spike:
ttfs_classification, cross_entropy: population_classification).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from framework_helpers import compose_config  # noqa: E402

from brain_ai.app import pipeline  # noqa: E402
from brain_ai.config import ConfigError, EncoderType  # noqa: E402
from brain_ai.config.compat import SEQUENCE_ENCODERS  # noqa: E402

DECODERS = ("rate", "first_spike", "population", "membrane", "ensemble")
LOSSES = {
    "probspikes": "rate_classification",
    "first_spike": "ttfs_classification",
    "cross_entropy": "population_classification",
}
ENCODERS = tuple(e.name for e in EncoderType if e not in SEQUENCE_ENCODERS)


def overrides(encoder: str, decoder: str, task_loss: str, args: argparse.Namespace) -> list:
    readout = "membrane" if decoder == "membrane" else "spiking"
    return [
        "data=digits",
        f"encoding={encoder}",
        f"decoding={decoder}",
        f"loss={LOSSES[task_loss]}",
        f"snn.readout={readout}",
        f"snn.hidden_sizes=[{args.hidden}]",
        f"encoding.num_steps={args.num_steps}",
        "data.batch_size=64",
        f"trainer.max_epochs={args.epochs}",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "callbacks=none",
        "logger=csv",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=16)
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated encoding options")
    parser.add_argument("--refused", action="store_true", help="also train the refused combinations")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    check = pipeline.check_codec
    for encoder in args.encoders.split(","):
        for decoder in DECODERS:
            for task_loss in LOSSES:
                cfg_overrides = overrides(encoder, decoder, task_loss, args)
                row = {
                    "encoding": encoder,
                    "decoding": decoder,
                    "task_loss": task_loss,
                    "refused": None,
                    "test_acc": None,
                }
                with tempfile.TemporaryDirectory() as out:
                    cfg = compose_config(cfg_overrides, output_dir=Path(out))
                    try:
                        pipeline.build_model(cfg)
                    except ConfigError as err:
                        row["refused"] = str(err)
                    if row["refused"] is None or (args.refused and encoder == ENCODERS[0]):
                        pipeline.check_codec = lambda *a, **k: None
                        try:
                            row["test_acc"] = pipeline.train(cfg)["test/acc"]
                        finally:
                            pipeline.check_codec = check
                rows.append(row)
                acc = "-" if row["test_acc"] is None else f"{row['test_acc']:.3f}"
                print(
                    f"{encoder:<18} {decoder:<12} {task_loss:<14} {'refused' if row['refused'] else 'allowed':<8} {acc}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
