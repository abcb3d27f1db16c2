"""scikit-learn's digits: 1,797 8x8 grayscale handwritten digits, 10 classes (no download needed).

Pixel values 0..16 become uint8 ``round(v * 255 / 16)``. The split is fixed: a permutation drawn
with seed 0; its first 1,437 images are train and the remaining 360 are test.
"""

from __future__ import annotations

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.data.options import LoadOptions
from imagegen.data.preprocess import finalize

NAME = "digits"
N_TRAIN = 1437
CLASS_NAMES = tuple(str(i) for i in range(10))


def load_digits_dataset(opts: LoadOptions) -> ImageDataset:
    """Load the scikit-learn digits split.

    Returns:
        uint8 images ``(N, 8, 8, 1)`` (or the requested resolution/channels), labels 0..9;
        N = 1,437 train / 360 test before ``limit``.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    order = np.random.default_rng(0).permutation(len(images))
    idx = order[:N_TRAIN] if opts.split == "train" else order[N_TRAIN:]
    idx = idx[: opts.take(len(idx))]
    return finalize(
        images[idx],
        opts,
        name=NAME,
        split=opts.split,
        source="sklearn.datasets.load_digits",
        labels=bunch.target[idx].astype(np.int64),
        class_names=CLASS_NAMES,
    )
