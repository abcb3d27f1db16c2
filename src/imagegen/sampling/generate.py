"""Draw images from any model as uint8 arrays, in batches, reproducibly by seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from imagegen.errors import ConfigError
from imagegen.models.base import GenerativeModel
from imagegen.seeding import generator

# text-to-image options that may give one value per image: split along with the batches
PER_IMAGE = ("prompt", "negative_prompt")


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
    first: int = 0,
    labels: torch.Tensor | list[int] | int | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> np.ndarray:
    """Sample images ``first`` .. ``first + n - 1`` of the stream that ``seed`` names.

    Image i draws all its noise from its own generator, seeded by (seed, i): the same weights,
    seed, label and options give image i whatever the batch size, and whether it is drawn alone
    (``first=i, n=1``) or among others (up to float rounding in the batched network). Torch's and
    numpy's global random states are not touched.

    Args:
        model: any :class:`GenerativeModel` (put in eval mode here).
        n: number of images (>= 1).
        seed: sampling seed.
        first: index of the first image.
        labels: one int for all, a list/tensor of n ints, or None (balanced classes
            ``i mod num_classes`` for image i of a conditional model).
        batch_size: images per forward pass.
        progress: called as ``progress(done, n)`` after each batch.
        options: sampling options (e.g. ``steps``, ``sampler`` for diffusion; ``prompt`` and
            ``negative_prompt``, one string or one per image, for text-to-image).

    Returns:
        uint8 ``(n, H, W, C)``.
    """
    if n < 1:
        raise ConfigError(f"n={n} is not allowed: ask for at least 1 image")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} is not allowed: use at least 1")
    if first < 0:
        raise ConfigError(f"first={first} is not allowed: image indices start at 0")
    unknown = sorted(set(options) - set(model.sample_options()))
    if unknown:
        known = ", ".join(model.sample_options()) or "none"
        raise ConfigError(
            f"model '{model.name}' has no sampling option {', '.join(unknown)}: its options are {known}"
        )
    per_image = [key for key in PER_IMAGE if isinstance(options.get(key), list | tuple)]
    for key in per_image:
        if len(options[key]) != n:
            raise ConfigError(
                f"{len(options[key])} {key}s for {n} images: give one {key}, or one per image"
            )
    if labels is None:
        y = default_labels(model, first + n)
        y = None if y is None else y[first:]
    else:
        y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if y.numel() == 1:
            y = y.expand(n).clone()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for start in range(0, n, batch_size):
            k = min(batch_size, n - start)
            g = [generator(device, seed, first + i) for i in range(start, start + k)]
            yb = None if y is None else y[start : start + k].to(device)
            opts = {**options, **{key: list(options[key][start : start + k]) for key in per_image}}
            out.append(to_uint8(model.sample(k, generator=g, labels=yb, **opts)))
            if progress is not None:
                progress(start + k, n)
    finally:
        model.train(was_training)
    return np.concatenate(out)
