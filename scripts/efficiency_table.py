"""Write the README's accuracy / cost table from trained runs: test accuracy, synaptic operations
per sample and the energy estimate against the same network as a dense ANN.

    python scripts/efficiency_table.py --row "experiment=digits_mlp=outputs/train/runs/<run>" \\
        --row "data=digits=<run folder or .ckpt>" [--readme README.md] [--max-batches N]

Each ``--row COMMAND=PATH`` names the ``train.py`` command (the table's first column) and its run
folder (its best checkpoint ``checkpoints/epoch_*.ckpt`` is read) or a checkpoint file; the split
is at the last ``=``. Every row is measured in one pass over the test set (``--max-batches``
limits it): accuracy of the decoded predictions and :mod:`brain_ai.metrics.efficiency` of the same
forwards, with the default energy constants (0.9 pJ per AC, 4.6 pJ per MAC; 45 nm, Horowitz ISSCC
2014). The table replaces the text between ``<!-- efficiency-table:start -->`` and
``<!-- efficiency-table:end -->`` in the README (an error when the markers are missing); without
``--readme`` it is printed. With ``--update`` only the named rows are re-measured: a README row
with the same command is replaced in place, a new command is appended, the other rows stay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brain_ai.config import DataConfig, from_dict  # noqa: E402
from brain_ai.core.decoding import ClassificationOutput  # noqa: E402
from brain_ai.data import build_datamodule  # noqa: E402
from brain_ai.data.ragged import split_batch  # noqa: E402
from brain_ai.metrics.efficiency import EfficiencyMeter, EfficiencyReport  # noqa: E402
from brain_ai.training.checkpoints import load_checkpoint  # noqa: E402
from brain_ai.training.module import SNNLitModule, eval_mode  # noqa: E402

START = "<!-- efficiency-table:start -->"
END = "<!-- efficiency-table:end -->"
HEADER = (
    "| command (`python train.py ...`) | test acc | synops / sample (ACs + MACs) | dense ops / sample | "
    "energy estimate / sample | dense-ANN estimate | ratio |\n|---|---|---|---|---|---|---|"
)


def checkpoint_of(path: Path) -> Path:
    """``path`` itself (a file) or the best checkpoint of the run folder ``path``."""
    if path.is_file():
        return path
    found = sorted((path / "checkpoints").glob("epoch_*.ckpt"))
    if len(found) != 1:
        raise SystemExit(
            f"error: {path}/checkpoints holds {len(found)} epoch_*.ckpt files; name the checkpoint file instead"
        )
    return found[0]


def measure(ckpt: Path, max_batches: Optional[int]) -> Tuple[float, EfficiencyReport]:
    """Test accuracy and efficiency of a checkpoint in one pass over (up to ``max_batches`` of) its test set."""
    load_checkpoint(ckpt)  # data-only check with a clear error
    model = SNNLitModule.load_from_checkpoint(str(ckpt), map_location="cpu", weights_only=True)
    dm = build_datamodule(from_dict(DataConfig, model.hparams.data))
    dm.setup("test")
    meter = EfficiencyMeter(model.net)
    correct = total = 0
    with eval_mode(model):
        for i, batch in enumerate(dm.test_dataloader()):
            if max_batches is not None and i >= max_batches:
                break
            x, y, mask = split_batch(batch)
            decoded, out = model(x, return_details=True, mask=mask)
            if not isinstance(decoded, ClassificationOutput):
                raise SystemExit(f"error: {ckpt} is a regression model; the table reports classification accuracy")
            meter.update(out, mask)
            correct += int((decoded.prediction == y).sum())
            total += y.shape[0]
    return correct / total, meter.compute()


def table_row(command: str, accuracy: float, report: EfficiencyReport) -> str:
    t = report.total
    ops = f"{t['synops']:,.0f} ({t['effective_acs']:,.0f} + {t['effective_macs']:,.0f})"
    return (
        f"| {command} | {100 * accuracy:.1f} % | {ops} | {t['dense_ops']:,.0f} | {t['energy_pj'] / 1e3:,.1f} nJ | "
        f"{t['dense_ann_energy_pj'] / 1e3:,.1f} nJ | {t['energy_ratio']:.3f} |"
    )


def replace_between_markers(text: str, table: str, start: str = START, end: str = END) -> str:
    """``text`` with the part between the markers ``start`` and ``end`` replaced by ``table``."""
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise SystemExit(f"error: the README has no {start} ... {end} markers to write the table between")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}"


def updated_rows(old_table: str, new_rows: List[str]) -> List[str]:
    """The data rows of ``old_table`` with each row of ``new_rows`` in place of the old row of the
    same command (first cell), the rest of ``new_rows`` appended."""
    command = lambda row: row.split("|")[1].strip()  # noqa: E731
    new = {command(row): row for row in new_rows}
    old = [line for line in old_table.strip().splitlines()[2:] if line.startswith("|")]  # after the header lines
    kept = [new.pop(command(row), row) for row in old]
    return kept + [row for row in new_rows if command(row) in new]


def parse_row(spec: str) -> Tuple[str, Path]:
    command, sep, path = spec.rpartition("=")
    if not sep or not command:
        raise SystemExit(
            f'error: --row {spec!r} must be COMMAND=PATH (e.g. "experiment=digits_mlp=outputs/train/runs/x")'
        )
    return command, Path(path)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--row",
        action="append",
        required=True,
        help="COMMAND=PATH: the train.py command and its run folder or checkpoint",
    )
    parser.add_argument(
        "--readme", type=Path, help="write the table between the markers of this file (default: print it)"
    )
    parser.add_argument(
        "--max-batches", type=int, default=None, help="test batches per row (default: the whole test set)"
    )
    parser.add_argument(
        "--update", action="store_true", help="replace only these rows in the README's table (needs --readme)"
    )
    args = parser.parse_args(argv)
    if args.update and args.readme is None:
        parser.error("--update needs --readme (the table whose rows it replaces)")
    rows = []
    for command, path in map(parse_row, args.row):
        accuracy, report = measure(checkpoint_of(path), args.max_batches)
        rows.append(table_row(f"`{command}`" if command != "(default)" else "*(default)*", accuracy, report))
    if args.readme is None:
        print("\n".join([HEADER, *rows]))
        return 0
    text = args.readme.read_text()
    if args.update:
        replace_between_markers(text, "")  # the markers' own check
        rows = updated_rows(text.split(START, 1)[1].split(END, 1)[0], rows)
    args.readme.write_text(replace_between_markers(text, "\n".join([HEADER, *rows])))
    print(f"wrote {len(rows)} rows to {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
