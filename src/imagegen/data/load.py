"""``load_dataset``: one entry point for named datasets and for paths."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from imagegen.data.arrays import load_npz
from imagegen.data.base import ImageDataset
from imagegen.data.cifar10 import load_cifar10
from imagegen.data.digits import load_digits_dataset
from imagegen.data.image_files import load_image_files
from imagegen.data.mnist import load_mnist
from imagegen.data.options import LoadOptions
from imagegen.data.root import resolve_data_root
from imagegen.data.shapes import load_shapes
from imagegen.errors import DataError

logger = logging.getLogger(__name__)

_NAMED: dict[str, Callable[[Path, LoadOptions], ImageDataset]] = {
    "digits": lambda root, opts: load_digits_dataset(opts),
    "shapes": lambda root, opts: load_shapes(opts),
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}


def list_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts besides paths: digits, shapes, mnist, cifar10."""
    return list(_NAMED)


def load_dataset(
    name_or_path: str,
    split: str = "train",
    *,
    resolution: int | None = None,
    channels: int | None = None,
    data_root: str | None = None,
    limit: int | None = None,
    on_error: Literal["skip", "raise"] = "skip",
    seed: int = 0,
    workers: int = 0,
) -> ImageDataset:
    """Load a named dataset or a folder / ``.zip`` / ``.npz`` of images into memory.

    A known name (case-insensitive) always means the named dataset; to load a folder that happens
    to be called ``digits``, pass ``./digits``. Paths without ``train``/``test`` splits return all
    their images for either split, with ``ds.split == "all"``.

    Args:
        name_or_path: one of :func:`list_datasets`, or a path to a folder, ``.zip`` or ``.npz``.
        split: "train" or "test".
        resolution: output side in pixels; images are centre-cropped to a square and resampled
            (LANCZOS down, BICUBIC up). None keeps the source's size (folders: the shorter side
            of the most common size; shapes: 32).
        channels: 1 or 3 to convert; None keeps the source's (folders: 1 only if all are gray).
        data_root: folder of named datasets; default ``$IMAGEGEN_DATA`` or ``~/.cache/imagegen/data``.
        limit: keep only ``limit`` images, deterministically and class-balanced where there are
            labels (class folders are read interleaved; labelled arrays such as MNIST take the
            first images of each class in turn, even when the file is sorted by class).
        on_error: "skip" unreadable image files with one warning, or "raise" on the first.
        seed: seed for procedural datasets (``shapes``); ignored by the others.
        workers: worker processes decoding image files (folders, zips); 0: this process.

    Returns:
        An :class:`ImageDataset`: uint8 ``(N, R, R, C)`` images in ``[0, 255]``, int64 labels or
        None, captions for ``shapes``; every choice above recorded in ``ds.preprocessing``.

    Raises:
        DataError: unknown name or path, missing files, unreadable data, or bad arguments.
    """
    opts = LoadOptions(
        split=split,
        resolution=resolution,
        channels=channels,
        limit=limit,
        on_error=on_error,
        seed=seed,
        workers=workers,
    )
    key = str(name_or_path).strip().lower()
    if not key:
        raise DataError(
            f"empty dataset name: choose one of {', '.join(_NAMED)}, or give a path to a folder, .zip or .npz"
        )
    if key in _NAMED:
        return _NAMED[key](resolve_data_root(data_root), opts)
    path = Path(str(name_or_path)).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset {str(name_or_path)!r} not found: choose one of {', '.join(_NAMED)}, "
            "or give a path to a folder, .zip or .npz"
        )
    if path.is_dir():
        return load_image_files(path, opts)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return load_image_files(path, opts)
    if suffix == ".npz":
        return load_npz(path, opts)
    raise DataError(
        f"cannot load {path}: {suffix or 'no extension'} is not a dataset format; "
        "give a folder of images, a .zip of images or a .npz of arrays"
    )
