"""k-nearest-neighbour radii and ball membership in feature space, in blocks that fit in memory.

Shared by precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020),
which all ask "which samples fall inside the k-NN ball of which reference sample".
"""

from __future__ import annotations

import numpy as np
import torch

# Rows of the distance matrix computed at once: 1024 x 10,000 float32 is 40 MB.
BLOCK = 1024


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """Euclidean distances ``(n, d), (m, d) -> (n, m)`` float64 (exact, no cdist shortcut)."""
    ta = torch.as_tensor(a, dtype=torch.float64)
    tb = torch.as_tensor(b, dtype=torch.float64)
    # ||a||^2 - 2 a.b + ||b||^2 loses digits for near points; clamp the round-off below 0.
    d2 = (ta * ta).sum(1, keepdim=True) - 2 * ta @ tb.T + (tb * tb).sum(1)
    return d2.clamp_min_(0).sqrt_()


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest *other* row: ``(n, d) -> (n,)``."""
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} needs at least k + 1 = {k + 1} points, got {n}")
    radii = np.empty(n)
    for start in range(0, n, BLOCK):
        d = pairwise_distances(x[start : start + BLOCK], x)
        # The point itself sits at distance 0, so the k-th other neighbour is the (k+1)-th smallest.
        radii[start : start + BLOCK] = torch.kthvalue(d, k + 1, dim=1).values.numpy()
    return radii


def ball_counts(centres: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query, how many balls B(centre_i, radius_i) contain it (boundary included).

    Returns:
        int64 ``(n_queries,)``.
    """
    counts = np.zeros(queries.shape[0], dtype=np.int64)
    r = torch.as_tensor(radii, dtype=torch.float64)
    for start in range(0, queries.shape[0], BLOCK):
        d = pairwise_distances(queries[start : start + BLOCK], centres)  # (q, n_centres)
        counts[start : start + BLOCK] = (d <= r).sum(1).numpy()
    return counts


def nearest_ball_hits(centres: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each centre, whether any query lies inside its ball: bool ``(n_centres,)``."""
    hit = np.zeros(centres.shape[0], dtype=bool)
    r = torch.as_tensor(radii, dtype=torch.float64)
    for start in range(0, centres.shape[0], BLOCK):
        d = pairwise_distances(centres[start : start + BLOCK], queries)  # (c, n_queries)
        hit[start : start + BLOCK] = (d.min(1).values <= r[start : start + BLOCK]).numpy()
    return hit
