"""The data layer: load images into memory as :class:`ImageDataset` and describe or fetch them.

>>> ds = load_dataset("digits", "train", resolution=16)   # doctest: +SKIP
>>> batch = ds.batch(range(64))                             # x float (64, 1, 16, 16) in [-1, 1]
"""

from imagegen.data.base import Batch, DataSpec, ImageDataset
from imagegen.data.describe import describe
from imagegen.data.download import download
from imagegen.data.load import list_datasets, load_dataset
from imagegen.data.root import resolve_data_root

__all__ = [
    "Batch",
    "DataSpec",
    "ImageDataset",
    "describe",
    "download",
    "list_datasets",
    "load_dataset",
    "resolve_data_root",
]
