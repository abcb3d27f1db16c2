"""Seeds derived from tuples of integers, so that each unit of randomness has its own stream.

Training draws the noise of micro-batch k of step s from a generator seeded by (seed, s, k), and
sampling draws image i from one seeded by (seed, i): the numbers then depend on which image or
micro-batch they belong to, not on how the work was batched or split between processes, and a
resumed run needs no generator state. numpy's SeedSequence does the mixing (a well-tested hash
that gives unrelated streams for nearby tuples).
"""

from __future__ import annotations

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 63-bit seed for the tuple ``keys`` of integers (negative ones taken mod 2^64)."""
    state = np.random.SeedSequence([int(k) % 2**64 for k in keys]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def generator(device: torch.device | str, *keys: int) -> torch.Generator:
    """A torch generator on ``device`` seeded by :func:`derive_seed` of ``keys``."""
    return torch.Generator(device).manual_seed(derive_seed(*keys))


Generators = torch.Generator | list[torch.Generator]
"""One generator for a whole batch, or one per image (row i drawn from generator i)."""


def randn(
    shape: tuple[int, ...],
    generator: Generators,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Standard normal noise of ``shape``; with a list of generators, row i comes from the i-th
    (the convention of diffusers' ``randn_tensor``, which its schedulers use for their noise)."""
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    rows = [
        torch.randn((1, *shape[1:]), generator=g, device=device, dtype=dtype) for g in generator
    ]
    return torch.cat(rows)


def rand(
    shape: tuple[int, ...],
    generator: Generators,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape``; with a list of generators, row i comes from the i-th."""
    if isinstance(generator, torch.Generator):
        return torch.rand(shape, generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    rows = [torch.rand((1, *shape[1:]), generator=g, device=device, dtype=dtype) for g in generator]
    return torch.cat(rows)
