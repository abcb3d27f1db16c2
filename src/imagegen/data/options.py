"""The validated options every loader receives from :func:`imagegen.data.load_dataset`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from imagegen.errors import DataError

SPLITS = ("train", "test")
ON_ERROR = ("skip", "raise")


@dataclass(frozen=True)
class LoadOptions:
    """What the caller asked for, checked once so loaders can trust it.

    Attributes:
        split: "train" or "test".
        resolution: target height == width in pixels, or None for the source's own size.
        channels: 1 or 3, or None for the source's own channel count.
        limit: keep only ``limit`` images, or None for all: the first in the source's order, or
            for labelled arrays a class-balanced choice (see :meth:`select`).
        on_error: "skip" unreadable image files (one warning) or "raise" a DataError.
        seed: seed of procedural datasets (``shapes``); other sources ignore it.
        workers: processes that decode image files (folders and zips) in parallel; 0 decodes
            in this process (with threads, which is enough for small files).
    """

    split: str = "train"
    resolution: int | None = None
    channels: int | None = None
    limit: int | None = None
    on_error: Literal["skip", "raise"] = "skip"
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"unknown split {self.split!r}: use split='train' or split='test'")
        if self.resolution is not None and not (_is_int(self.resolution) and self.resolution >= 1):
            raise DataError(
                f"resolution must be a positive integer number of pixels, got {self.resolution!r}"
            )
        if self.channels is not None and self.channels not in (1, 3):
            raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        if self.limit is not None and not (_is_int(self.limit) and self.limit >= 1):
            raise DataError(f"limit must be a positive integer or None, got {self.limit!r}")
        if self.on_error not in ON_ERROR:
            raise DataError(f"on_error must be 'skip' or 'raise', got {self.on_error!r}")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise DataError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (_is_int(self.workers) and 0 <= self.workers <= 256):
            raise DataError(
                f"workers must be an integer from 0 (decode here) to 256, got {self.workers!r}"
            )

    def take(self, n: int) -> int:
        """How many of ``n`` available images to keep under ``limit``."""
        return n if self.limit is None else min(n, self.limit)

    def select(self, labels: np.ndarray | None, n: int) -> np.ndarray:
        """Indices (ascending, so in source order) of the images ``limit`` keeps of ``n``.

        Unlabelled: the first ``limit``. Labelled: the first image of each class, then the second
        of each, ... (the order a labelled folder is read in), so a limit is class-balanced even
        where the source is sorted by class, as some MNIST copies are.
        """
        k = self.take(n)
        if labels is None or k == n:
            return np.arange(k)
        labels = np.asarray(labels[:n])
        by_class = np.argsort(labels, kind="stable")  # class by class, source order within
        first = np.searchsorted(labels[by_class], labels[by_class], side="left")
        rank = np.empty(n, dtype=np.int64)
        rank[by_class] = np.arange(n) - first  # i-th image of its class
        return np.sort(np.lexsort((labels, rank))[:k])  # by rank, then class


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
