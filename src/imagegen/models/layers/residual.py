"""Pre-activation residual block shared by the convolutional autoencoders."""

from __future__ import annotations

import torch
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest of 32, 16, 8, ... groups that divides ``channels``."""
    groups = 32
    while channels % groups:
        groups //= 2
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): (B, C, H, W) -> (B, C, H, W).

    The last convolution starts at zero, so a fresh block is the identity (as in the residual
    cells of NVAE and the blocks of the DDPM UNet), which keeps deep stacks stable at the start.
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels
        self.net = nn.Sequential(
            group_norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, hidden, 3, 1, 1),
            group_norm(hidden),
            nn.SiLU(),
            nn.Conv2d(hidden, channels, 3, 1, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)
