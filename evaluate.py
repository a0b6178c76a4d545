"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [output_json=report.json]``."""

import hydra
from omegaconf import DictConfig

from brain_ai.allocator import reuse_large_blocks
from brain_ai.hydra_store import register_configs
from brain_ai.pipeline import evaluate

register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with reuse_large_blocks(cfg.allocator_reuse):
        evaluate(cfg)


if __name__ == "__main__":
    main()
