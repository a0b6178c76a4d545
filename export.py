"""Export a checkpoint to NIR: ``python export.py ckpt_path=<run>/checkpoints/last.ckpt output=model.nir [dt=1e-4] [approximate=true]``."""

import hydra
from omegaconf import DictConfig

from brain_ai.interop.nir import export_file


@hydra.main(version_base="1.3", config_path="configs", config_name="export")
def main(cfg: DictConfig) -> None:
    export_file(cfg.ckpt_path, cfg.output, dt=cfg.dt, approximate=cfg.approximate)


if __name__ == "__main__":
    main()
