"""Train an SNN: ``python train.py [group=option ...] [key=value ...]`` (see README and configs/)."""

from typing import Optional

import hydra
from omegaconf import DictConfig

from brain_ai.allocator import reuse_large_blocks
from brain_ai.hydra_store import register_configs
from brain_ai.pipeline import optimized_value, train

register_configs()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> Optional[float]:
    with reuse_large_blocks(cfg.allocator_reuse):
        metrics = train(cfg)
    return optimized_value(cfg, metrics)


if __name__ == "__main__":
    main()
