"""Screenshots of TensorBoard's pages for the docs, taken with headless Chromium (not run in CI).

``python scripts/tensorboard_screenshots.py --logdir outputs/train/runs/<run> --out docs/images``
serves ``--logdir`` with TensorBoard (:func:`brain_ai.tools.tensorboard_server.serve`) and writes
one PNG per page (``tensorboard_<page>.png``). Needs a Chromium binary (Debian:
``apt-get install -y chromium``); a logdir without event files stops with a message that says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

from brain_ai.tools.tensorboard_server import event_dirs, serve

#: TensorBoard pages (URL fragments) shot by default
PAGES = ("timeseries", "scalars", "custom_scalars", "images", "histograms", "hparams")
#: flags for Chromium as root on a machine without a display or network
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium(explicit: Optional[str] = None) -> str:
    """Path of the Chromium binary (``explicit``, else chromium / chromium-browser / google-chrome on PATH)."""
    candidates = [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]
    for name in candidates:
        path = shutil.which(name) if name else None
        if path:
            return path
    raise FileNotFoundError(
        f"no Chromium found (tried {', '.join(c for c in candidates if c)}); on Debian: apt-get install -y chromium"
    )


def screenshot(chromium: str, url: str, path: Path, width: int, height: int, wait_ms: int) -> None:
    """One headless-Chromium screenshot of ``url`` after ``wait_ms`` of (virtual) page time."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={wait_ms}",
            f"--screenshot={path}",
            url,
        ]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not path.is_file():
        raise RuntimeError(f"Chromium failed on {url} (exit {proc.returncode}): {proc.stderr[-1500:]}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, required=True, help="run, tensorboard/ or sweep directory")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="where the PNGs go")
    parser.add_argument(
        "--pages", default=",".join(PAGES), help=f"comma-separated TensorBoard pages (default: {','.join(PAGES)})"
    )
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: found on PATH)")
    parser.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT in pixels")
    parser.add_argument("--wait-ms", type=int, default=15000, help="page time before each shot (ms)")
    args = parser.parse_args(argv)
    try:
        runs = event_dirs(args.logdir)
        chromium = find_chromium(args.chromium)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    with serve(args.logdir, min_runs=len(runs)) as base:
        for page in [p.strip() for p in args.pages.split(",") if p.strip()]:
            path = args.out / f"tensorboard_{page}.png"
            screenshot(chromium, f"{base}/#{page}", path.resolve(), width, height, args.wait_ms)
            written.append(path)
            print(f"wrote {path}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
