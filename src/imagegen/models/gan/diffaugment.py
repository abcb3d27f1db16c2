"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image the
discriminator sees, real and generated, in both the D and the G step, so D cannot memorise a small
training set and G's gradients pass through the augmentation.

Policies are comma-separated names from :data:`POLICIES` ("color,translation,cutout" is the
paper's choice). Each image draws its own parameters from the step's generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from imagegen.errors import ConfigError
from imagegen.seeding import Generators, rand


def _brightness(x: torch.Tensor, g: Generators) -> torch.Tensor:
    return x + (rand((x.shape[0], 1, 1, 1), g, x.device, x.dtype) - 0.5)


def _saturation(x: torch.Tensor, g: Generators) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (rand((x.shape[0], 1, 1, 1), g, x.device, x.dtype) * 2) + mean


def _contrast(x: torch.Tensor, g: Generators) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (rand((x.shape[0], 1, 1, 1), g, x.device, x.dtype) + 0.5) + mean


def color(x: torch.Tensor, g: Generators) -> torch.Tensor:
    """Random brightness, saturation and contrast."""
    return _contrast(_saturation(_brightness(x, g), g), g)


def _shifts(b: int, limit: int, g: Generators, device: torch.device) -> torch.Tensor:
    """Integer shifts uniform in [-limit, limit], (B,)."""
    return (rand((b,), g, device) * (2 * limit + 1)).floor().long() - limit


def translation(x: torch.Tensor, g: Generators, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros."""
    b, _, h, w = x.shape
    dy = _shifts(b, int(h * ratio + 0.5), g, x.device)
    dx = _shifts(b, int(w * ratio + 0.5), g, x.device)
    # output pixel (i, j) reads input (i - dy, j - dx); indices off the image read the zero border
    iy = (torch.arange(h, device=x.device)[None, :] - dy[:, None] + 1).clamp(0, h + 1)  # (B, H)
    ix = (torch.arange(w, device=x.device)[None, :] - dx[:, None] + 1).clamp(0, w + 1)  # (B, W)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded[bi, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, g: Generators, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` of the image size at a random centre in each image."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (rand((b,), g, x.device) * (h + 1 - sh % 2)).floor().long()
    cx = (rand((b,), g, x.device) * (w + 1 - sw % 2)).floor().long()
    ys = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - sh // 2)  # (B, H)
    xs = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - sw // 2)  # (B, W)
    inside = ((ys >= 0) & (ys < sh))[:, :, None] & ((xs >= 0) & (xs < sw))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)


POLICIES: dict[str, Callable[[torch.Tensor, Generators], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def check_policy(policy: str) -> list[str]:
    """The names of a comma-separated policy; ConfigError naming an unknown one."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for n in names:
        if n not in POLICIES:
            raise ConfigError(
                f"unknown DiffAugment policy {n!r}: use a comma-separated subset of "
                f"{', '.join(POLICIES)}"
            )
    return names


def diff_augment(x: torch.Tensor, policy: str, generator: Generators) -> torch.Tensor:
    """Augment images (B, C, H, W) with the comma-separated ``policy`` ("" returns x)."""
    for name in check_policy(policy):
        x = POLICIES[name](x, generator)
    return x
