"""Data sets for brain_ai as LightningDataModules: ``build_datamodule(DataConfig)``.

See docs/data.md for the table of data sets, on-disk layouts and shapes.
"""

from brain_ai.data.base import DatasetInfo, DataSource, LoadedData
from brain_ai.data.datamodule import DATASETS, BrainDataModule, augment_shift_of, build_datamodule, dataset_info

__all__ = [
    "DATASETS",
    "BrainDataModule",
    "DataSource",
    "DatasetInfo",
    "LoadedData",
    "augment_shift_of",
    "build_datamodule",
    "dataset_info",
]
