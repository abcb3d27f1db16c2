"""Sample diversity, for the mode-collapse check during training.

A generator that collapses draws nearly the same image for every z. The check compares the mean
pairwise distance between samples with the same statistic on real training images: pixel space
is crude, but a collapse shrinks it by an order of magnitude, and it needs no network.

A class-conditional generator can collapse within each class while its classes still differ
(BigGAN drew one "3" for every z): for such models the same ratio is taken within each class,
against real images of that class, and averaged over the classes.
"""

from __future__ import annotations

import numpy as np

# samples closer to each other than this fraction of the real images' spread look collapsed
COLLAPSE_RATIO = 0.25
# the within-class version: a biggan run whose samples of a class were near copies measured 0.38
CLASS_COLLAPSE_RATIO = 0.5


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


def class_diversity_ratio(
    samples: np.ndarray, labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray
) -> float | None:
    """Mean over classes of the within-class :func:`diversity_ratio` of ``samples`` (labelled
    ``labels``) against ``real`` images of the same class; None when no class has 2 samples and
    2 real images."""
    ratios = []
    for c in np.unique(labels):
        mine, theirs = samples[labels == c], real[real_labels == c]
        if len(mine) >= 2 and len(theirs) >= 2:
            ratios.append(diversity_ratio(mine, theirs))
    return float(np.mean(ratios)) if ratios else None


def sample_diversity(
    samples: np.ndarray,
    data: np.ndarray,
    seed: int,
    labels: np.ndarray | None = None,
    data_labels: np.ndarray | None = None,
) -> dict[str, float]:
    """The training check: ``samples`` against as many images drawn (by ``seed``) from ``data``
    (``samples/diversity``) and, with ``labels`` and ``data_labels``, within classes against as
    many real images of each class (``samples/class_diversity``); {} with fewer than 2 of either.
    """
    n = len(samples)
    if n < 2 or len(data) < 2:
        return {}
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), min(n, len(data)), replace=False))
    out = {"samples/diversity": diversity_ratio(samples, data[pick])}
    if labels is None or data_labels is None:
        return out
    real = []
    for c in np.unique(labels):
        idx = np.flatnonzero(data_labels == c)
        if len(idx):
            real.append(rng.choice(idx, min((labels == c).sum(), len(idx)), replace=False))
    real = np.sort(np.concatenate(real))
    within = class_diversity_ratio(samples, labels, data[real], data_labels[real])
    if within is not None:
        out["samples/class_diversity"] = within
    return out
