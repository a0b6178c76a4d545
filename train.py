"""Train an SNN: ``python train.py [group=option ...] [key=value ...]`` (see README and configs/)."""

import sys
from typing import Optional

import hydra
from omegaconf import DictConfig

from brain_ai.app.allocator import reuse_large_blocks
from brain_ai.app.cli import check_command_line, quiet_known_warnings, report_errors, route_lightning_logs
from brain_ai.config.hydra_store import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> Optional[float]:
    from brain_ai.config.validate import validate_config

    groups = report_errors(lambda: validate_config(cfg))  # before importing Lightning, which takes seconds
    from brain_ai.app.pipeline import optimized_value, train

    route_lightning_logs()
    with reuse_large_blocks(cfg.allocator_reuse), quiet_known_warnings():
        return report_errors(lambda: optimized_value(cfg, train(cfg, groups=groups)))


if __name__ == "__main__":
    check_command_line(sys.argv[1:], "train")
    main()
