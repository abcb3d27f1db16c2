"""Memorisation: are generated samples closer to the training images than new real images are?

For each generated sample, d_gen is the distance to its nearest training image in a feature space;
for each held-out test image, d_test is the same distance. Test images are real but unseen, so
their distances show how close a genuinely new image comes to the training set. We report the share
of samples with d_gen below the ``quantile`` (default 5%) of d_test: about ``quantile`` for a model
that generalises, near 1 for one that copies its training set. The closest pairs are returned so
they can be looked at (``imagegen eval`` saves the worst ten as a picture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from imagegen.errors import ImagegenError
from imagegen.metrics.knn import BLOCK, pairwise_distances

DEFAULT_QUANTILE = 0.05


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, the nearest reference row for each query row."""
    dist = np.empty(queries.shape[0])
    index = np.empty(queries.shape[0], dtype=np.int64)
    for start in range(0, queries.shape[0], BLOCK):
        d = pairwise_distances(queries[start : start + BLOCK], references)
        best = torch.min(d, dim=1)
        dist[start : start + BLOCK] = best.values.numpy()
        index[start : start + BLOCK] = best.indices.numpy()
    return dist, index


@dataclass
class MemorizationResult:
    """Attributes:
    share: fraction of generated samples with d_gen < threshold.
    threshold: the ``quantile`` of d_test.
    quantile: the quantile used (the expected share for a model that does not copy).
    median_ratio: median(d_gen) / median(d_test) (< 1: samples sit closer to the training set).
    closest: ``(k, 2)`` int pairs (generated index, nearest training index), closest first.
    closest_distances: ``(k,)`` their distances.
    """

    share: float
    threshold: float
    quantile: float
    median_ratio: float
    closest: np.ndarray
    closest_distances: np.ndarray

    def summary(self) -> dict:
        return {
            "share": self.share,
            "threshold": self.threshold,
            "quantile": self.quantile,
            "median_ratio": self.median_ratio,
        }


def memorization(
    *,
    train: np.ndarray,
    test: np.ndarray,
    generated: np.ndarray,
    quantile: float = DEFAULT_QUANTILE,
    k_worst: int = 10,
) -> MemorizationResult:
    """Memorisation statistics from features of training, held-out test and generated images.

    Args:
        train: float ``(N_train, D)`` features of the training images.
        test: float ``(N_test, D)`` features of held-out real images of the same distribution.
        generated: float ``(N_gen, D)`` features of the samples.
        quantile: which quantile of the test distances is the threshold, in (0, 1).
        k_worst: how many closest (generated, training) pairs to return.
    """
    if not 0 < quantile < 1:
        raise ImagegenError(f"quantile must be in (0, 1), got {quantile}")
    if min(len(train), len(test), len(generated)) < 1:
        raise ImagegenError("memorisation needs training, test and generated features")
    d_test, _ = nearest(np.asarray(test, np.float64), np.asarray(train, np.float64))
    d_gen, idx = nearest(np.asarray(generated, np.float64), np.asarray(train, np.float64))
    threshold = float(np.quantile(d_test, quantile))
    order = np.argsort(d_gen, kind="stable")[:k_worst]
    return MemorizationResult(
        share=float((d_gen < threshold).mean()),
        threshold=threshold,
        quantile=quantile,
        median_ratio=float(np.median(d_gen) / max(np.median(d_test), 1e-12)),
        closest=np.stack([order, idx[order]], axis=1),
        closest_distances=d_gen[order],
    )
