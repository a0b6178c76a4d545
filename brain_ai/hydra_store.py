"""Register brain_ai's config dataclasses as Hydra schemas (an explicit call, never an import side effect).

Each group's YAML presets start from its schema (``defaults: [base_<group>, _self_]``), so a typo or
a value of the wrong type fails when Hydra composes the config -- before any training:

=========  ==================  ===============================
group      schema node         dataclass
=========  ==================  ===============================
snn        ``base_snn``        :class:`brain_ai.config.SNNConfig`
encoding   ``base_encoding``   :class:`brain_ai.config.EncodingConfig`
decoding   ``base_decoding``   :class:`brain_ai.config.DecodingConfig`
loss       ``base_loss``       :class:`brain_ai.config.LossConfig`
data       ``base_data``       :class:`brain_ai.config.DataConfig`
optim      ``base_optim``      :class:`brain_ai.config.OptimConfig`
=========  ==================  ===============================
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from brain_ai.config import DataConfig, DecodingConfig, EncodingConfig, LossConfig, OptimConfig, SNNConfig

#: group name -> schema dataclass
SCHEMAS = {
    "snn": SNNConfig,
    "encoding": EncodingConfig,
    "decoding": DecodingConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "optim": OptimConfig,
}


def register_configs() -> None:
    """Store every schema under ``<group>/base_<group>`` in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    for group, schema in SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)
