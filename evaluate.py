"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [output_json=report.json]``."""

import sys

import hydra
from omegaconf import DictConfig

from brain_ai.app.allocator import reuse_large_blocks
from brain_ai.app.cli import check_command_line, quiet_known_warnings, report_errors, route_lightning_logs
from brain_ai.config.hydra_store import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from brain_ai.config.validate import validate_config

    report_errors(lambda: validate_config(cfg))  # before importing Lightning, which takes seconds
    from brain_ai.app.pipeline import evaluate

    route_lightning_logs()
    with reuse_large_blocks(cfg.allocator_reuse), quiet_known_warnings():
        report_errors(lambda: evaluate(cfg))


if __name__ == "__main__":
    check_command_line(sys.argv[1:], "evaluate")
    main()
