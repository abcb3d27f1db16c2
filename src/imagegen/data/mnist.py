"""MNIST: 70,000 handwritten digits, 28x28 grayscale, 10 classes (LeCun, Cortes and Burges).

Looked for under the data root, first match wins:

1. ``<root>/mnist.npz`` in the Keras layout (``x_train``, ``y_train``, ``x_test``, ``y_test``);
2. the four IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
   ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, gzipped or not) in
   ``<root>/mnist/`` (where ``imagegen data download mnist`` puts them) or in ``<root>/``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from imagegen.data.arrays import load_npz
from imagegen.data.base import ImageDataset
from imagegen.data.idx import read_idx
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import finalize
from imagegen.errors import DataError

NAME = "mnist"
CLASS_NAMES = tuple(str(i) for i in range(10))
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_mnist(root: Path, opts: LoadOptions) -> ImageDataset:
    """Load MNIST from ``root`` (see the module docstring for the accepted files).

    Returns:
        uint8 images ``(N, 28, 28, 1)`` (or the requested resolution/channels), labels 0..9;
        N = 60,000 train / 10,000 test before ``limit``.

    Raises:
        DataError: no MNIST files under ``root``, or files that fail validation.
    """
    npz = root / "mnist.npz"
    if npz.is_file():
        ds = load_npz(npz, opts, name=NAME)
        if ds.labels is None or int(ds.labels.max()) > 9:
            raise DataError(
                f"{npz} is not MNIST (needs y_train/y_test labels 0..9): replace it with the Keras mnist.npz"
            )
        ds.spec = replace(ds.spec, num_classes=10, class_names=CLASS_NAMES)
        return ds
    for folder in (root / "mnist", root):
        found = [_find(folder, stem) for stem in IDX_FILES[opts.split]]
        if all(found):
            images_path, labels_path = found
            return _load_idx(images_path, labels_path, opts)
    raise DataError(
        f"mnist not found in {root}: put mnist.npz (x_train/y_train/x_test/y_test) or the four "
        f"IDX .gz files in {root / 'mnist'}, or run `imagegen data download mnist`"
    )


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx(images_path: Path, labels_path: Path, opts: LoadOptions) -> ImageDataset:
    x = read_idx(images_path, 3)
    y = read_idx(labels_path, 1)
    if len(x) != len(y):
        raise DataError(
            f"{images_path} has {len(x)} images but {labels_path} has {len(y)} labels: "
            "download both files again"
        )
    if len(y) and int(y.max()) > 9:
        raise DataError(
            f"{labels_path} has label {int(y.max())} (MNIST labels are 0..9): download it again"
        )
    keep = opts.select(y, len(x))
    return finalize(
        x[keep][:, :, :, None],
        opts,
        name=NAME,
        split=opts.split,
        source=f"{images_path.parent} (IDX)",
        labels=np.asarray(y[keep], dtype=np.int64),
        class_names=CLASS_NAMES,
    )
