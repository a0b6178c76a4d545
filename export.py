"""Export a checkpoint to NIR: ``python export.py ckpt_path=<run>/checkpoints/last.ckpt output=model.nir [dt=1e-4] [approximate=true]``."""

import sys

import hydra
from omegaconf import DictConfig

from brain_ai.app.cli import check_command_line, report_errors
from brain_ai.config.hydra_store import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="export")
def main(cfg: DictConfig) -> None:
    from brain_ai.interop.nir import export_command

    report_errors(lambda: export_command(cfg))


if __name__ == "__main__":
    check_command_line(sys.argv[1:], "export")
    main()
