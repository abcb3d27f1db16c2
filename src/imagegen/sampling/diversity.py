"""Sample diversity, for the mode-collapse check during training.

A generator that collapses draws nearly the same image for every z. The check compares the mean
pairwise distance between samples with the same statistic on real training images: pixel space
is crude, but a collapse shrinks it by an order of magnitude, and it needs no network.
"""

from __future__ import annotations

import numpy as np

# samples closer to each other than this fraction of the real images' spread look collapsed
COLLAPSE_RATIO = 0.25


def pairwise_distance(images: np.ndarray) -> float:
    """Mean RMS pixel distance over all pairs of images, uint8 (N, H, W, C) -> float in [0, 1]."""
    if len(images) < 2:
        raise ValueError(f"{len(images)} image(s): the pairwise distance needs at least 2")
    x = images.reshape(len(images), -1).astype(np.float64) / 255
    sq = (x**2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * x @ x.T  # (N, N) squared distances
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(np.maximum(d2[iu], 0.0) / x.shape[1]).mean())


def diversity_ratio(samples: np.ndarray, real: np.ndarray) -> float:
    """Pairwise distance of ``samples`` over that of ``real`` images (1: as varied as the data)."""
    return pairwise_distance(samples) / max(pairwise_distance(real), 1e-12)
