"""Improved precision and recall (Kynkäänniemi et al. 2019).

The real manifold is the union of balls around each real feature with radius its distance to the
k-th nearest real neighbour (k = 3 in the paper); precision is the share of generated samples inside
it (fidelity). Recall swaps the roles: the share of real samples inside the generated manifold
(diversity).
"""

from __future__ import annotations

import numpy as np

from imagegen.errors import ImagegenError
from imagegen.metrics.knn import ball_counts, knn_radii

DEFAULT_K = 3


def precision_recall(
    *, real: np.ndarray, generated: np.ndarray, k: int = DEFAULT_K
) -> tuple[float, float]:
    """(precision, recall) of ``generated (N_g, D)`` against ``real (N_r, D)`` features, in [0, 1].

    Keyword-only: swapping the sides swaps precision and recall, so the call must name them.
    """
    real = np.asarray(real, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if min(real.shape[0], generated.shape[0]) <= k:
        raise ImagegenError(
            f"precision/recall with k={k} needs more than {k} real and generated images"
        )
    precision = (ball_counts(real, knn_radii(real, k), generated) > 0).mean()
    recall = (ball_counts(generated, knn_radii(generated, k), real) > 0).mean()
    return float(precision), float(recall)
