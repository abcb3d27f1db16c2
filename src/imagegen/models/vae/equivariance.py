"""EQ-VAE's equivariance regulariser (Kouzelis et al. 2025, Sec. 3): on some training steps the
decoder must turn a transformed latent tau(z) into the equally transformed image tau(x), so the
latent map's spatial structure follows the image's and a prior on it has a smoother map to learn.

tau is a rotation by a multiple of 90 degrees, or an area downscaling of the map's side to
between one half and all but one of its cells; the image is scaled to f times that side, f the
autoencoder's downsampling factor. Written here: no library has it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Transform:
    """tau: ``quarter_turns`` rotations by 90 degrees after scaling the latent's side to ``side``."""

    quarter_turns: int
    side: int

    def __call__(self, t: torch.Tensor, factor: int = 1) -> torch.Tensor:
        """tau applied to a (B, C, H, W) latent (``factor`` 1) or image (``factor`` f)."""
        size = self.side * factor
        if t.shape[-1] != size or t.shape[-2] != size:
            # area: each new cell averages the cells it covers (a box filter, no aliasing)
            t = F.interpolate(t.float(), size=(size, size), mode="area").to(t.dtype)
        return torch.rot90(t, self.quarter_turns, dims=(-2, -1))


def draw(generator: torch.Generator, p: float, side: int) -> Transform | None:
    """With probability ``p`` a random tau for a latent map of ``side`` x ``side`` (a rotation or a
    downscaling, equally likely); else None. Draws nothing when ``p`` is 0."""
    if p <= 0:
        return None
    u = torch.rand(3, generator=generator, device=generator.device).tolist()
    if u[0] >= p:
        return None
    smallest = (side + 1) // 2  # ceil(side / 2), at least 1
    if u[1] < 0.5 or smallest >= side:  # rotate (a 1 x 1 map cannot shrink)
        return Transform(1 + min(int(u[2] * 3), 2), side)
    return Transform(0, smallest + min(int(u[2] * (side - smallest)), side - smallest - 1))
