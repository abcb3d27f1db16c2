"""The validated options every loader receives from :func:`imagegen.data.load_dataset`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
        limit: keep only the first ``limit`` images (in the source's order), or None for all.
        on_error: "skip" unreadable image files (one warning) or "raise" a DataError.
        seed: seed of procedural datasets (``shapes``); other sources ignore it.
    """

    split: str = "train"
    resolution: int | None = None
    channels: int | None = None
    limit: int | None = None
    on_error: Literal["skip", "raise"] = "skip"
    seed: int = 0

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

    def take(self, n: int) -> int:
        """How many of ``n`` available images to keep under ``limit``."""
        return n if self.limit is None else min(n, self.limit)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
