"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics").

Both use only k-NN balls around *real* features, which makes them robust to generated outliers:
density = (1 / kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]   (can exceed 1)
coverage = (1 / N) sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]
with N real features X, M generated features Y and k = 5 as in the paper.
"""

from __future__ import annotations

import numpy as np

from imagegen.errors import ImagegenError
from imagegen.metrics.knn import ball_counts, knn_radii, nearest_ball_hits

DEFAULT_K = 5


def density_coverage(
    *, real: np.ndarray, generated: np.ndarray, k: int = DEFAULT_K
) -> tuple[float, float]:
    """(density, coverage) of ``generated (M, D)`` against ``real (N, D)`` features.

    Keyword-only: the metrics are not symmetric in the two sets.
    """
    real = np.asarray(real, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if real.shape[0] <= k or generated.shape[0] < 1:
        raise ImagegenError(f"density/coverage with k={k} needs more than {k} real images")
    radii = knn_radii(real, k)
    density = ball_counts(real, radii, generated).sum() / (k * generated.shape[0])
    coverage = nearest_ball_hits(real, radii, generated).mean()
    return float(density), float(coverage)
