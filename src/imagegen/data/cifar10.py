"""CIFAR-10: 60,000 32x32 RGB images in 10 classes (Krizhevsky 2009).

Looked for under the data root, first match wins:

1. ``<root>/cifar-10-batches-py/`` (the official python batches, as ``imagegen data download
   cifar10`` extracts them), read with :mod:`imagegen.data.safe_pickle`, never plain ``pickle``;
2. ``<root>/cifar10.zip`` or ``<root>/cifar10/``: an image-folder archive with
   ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (see :mod:`imagegen.data.image_files`).

Both give the official label order (airplane=0 ... truck=9, which is alphabetical).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.data.image_files import load_image_files
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import finalize
from imagegen.data.safe_pickle import safe_loads
from imagegen.errors import DataError

NAME = "cifar10"
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BATCH_DIR = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def load_cifar10(root: Path, opts: LoadOptions) -> ImageDataset:
    """Load CIFAR-10 from ``root`` (see the module docstring for the accepted layouts).

    Returns:
        uint8 images ``(N, 32, 32, 3)`` (or the requested resolution/channels), labels 0..9;
        N = 50,000 train / 10,000 test before ``limit``.

    Raises:
        DataError: no CIFAR-10 files under ``root``, or files that fail validation.
    """
    batches = root / BATCH_DIR
    if batches.is_dir():
        return _load_batches(batches, opts)
    for path in (root / "cifar10.zip", root / "cifar10"):
        if path.exists():
            return load_image_files(path, opts, name=NAME, default_resolution=32)
    raise DataError(
        f"cifar10 not found in {root}: put the python batches in {root / BATCH_DIR} or an image "
        f"archive at {root / 'cifar10.zip'} (train/<class>/, test/<class>/), or run "
        "`imagegen data download cifar10`"
    )


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely.

    Returns:
        images uint8 ``(n, 32, 32, 3)`` and labels int64 ``(n,)`` in ``[0, 10)``.

    Raises:
        DataError: missing file, forbidden pickle content, or unexpected structure.
    """
    fix = "delete the folder and run `imagegen data download cifar10` again"
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read CIFAR-10 batch {path} ({e.strerror or e}): {fix}") from None
    d = safe_loads(raw, where=str(path))
    if not isinstance(d, dict):
        raise DataError(f"{path} holds a {type(d).__name__}, not a CIFAR-10 batch dict: {fix}")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data, labels = d.get("data"), d.get("labels")
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        raise DataError(f"{path}: 'data' is not a uint8 (n, 3072) array: {fix}")
    y = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if y.shape != (len(data),) or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"{path}: 'labels' is not one label in 0..9 per image: {fix}")
    # (n, 3072) planes R, G, B of 32x32 -> (n, 32, 32, 3)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _load_batches(folder: Path, opts: LoadOptions) -> ImageDataset:
    want = opts.limit
    xs, ys = [], []
    for name in BATCHES[opts.split]:
        x, y = read_batch(folder / name)
        xs.append(x)
        ys.append(y)
        if want is not None and sum(len(a) for a in xs) >= want:
            break
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = opts.select(y, len(x))
    return finalize(
        np.ascontiguousarray(x[keep]),
        opts,
        name=NAME,
        split=opts.split,
        source=f"{folder} (python batches)",
        labels=y[keep],
        class_names=CLASS_NAMES,
    )
