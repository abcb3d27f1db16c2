"""Draw images from any model as uint8 arrays, in batches, reproducibly by seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``(B, C, H, W)`` in [-1, 1] -> uint8 ``(B, H, W, C)`` (round to nearest)."""
    x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def default_labels(model: GenerativeModel, n: int) -> torch.Tensor | None:
    """Balanced labels 0, 1, ..., K-1, 0, 1, ... for a conditional model, else None."""
    if not model.conditional:
        return None
    return torch.arange(n) % model.spec.num_classes


@torch.no_grad()
def generate(
    model: GenerativeModel,
    n: int,
    *,
    seed: int = 0,
    labels: torch.Tensor | list[int] | int | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> np.ndarray:
    """Sample ``n`` images.

    Each batch draws from its own generator seeded by (seed, batch index), so the same weights,
    seed, labels, options and batch_size give the same images.

    Args:
        model: any :class:`GenerativeModel` (put in eval mode here).
        n: number of images (>= 1).
        seed: sampling seed.
        labels: one int for all, a list/tensor of n ints, or None (balanced classes for conditional
            models).
        batch_size: images per forward pass.
        progress: called as ``progress(done, n)`` after each batch.
        options: sampling options (e.g. ``steps``, ``sampler`` for diffusion).

    Returns:
        uint8 ``(n, H, W, C)``.
    """
    if n < 1:
        raise ConfigError(f"n={n} is not allowed: ask for at least 1 image")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} is not allowed: use at least 1")
    if labels is None:
        y = default_labels(model, n)
    else:
        y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if y.numel() == 1:
            y = y.expand(n).clone()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for b, start in enumerate(range(0, n, batch_size)):
            k = min(batch_size, n - start)
            g = torch.Generator(device).manual_seed(seed * 1_000_003 + b)
            yb = None if y is None else y[start : start + k].to(device)
            out.append(to_uint8(model.sample(k, generator=g, labels=yb, **options)))
            if progress is not None:
                progress(start + k, n)
    finally:
        model.train(was_training)
    return np.concatenate(out)
