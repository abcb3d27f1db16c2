"""PatchGAN discriminator (Isola et al. 2017): a fully convolutional critic with one logit per patch.

VQGAN (Esser et al. 2021) puts it on an autoencoder's reconstructions so the decoder draws sharp
strokes instead of the blurred conditional mean an MSE loss asks for. Spectral norm on every
convolution (no batch norm: real and reconstructed images arrive in separate batches).
"""

from __future__ import annotations

import torch
from torch import nn

from imagegen.models.layers.gan_blocks import sn


class PatchDiscriminator(nn.Module):
    """x (B, C, H, W) -> logits (B, H / 2^d, W / 2^d), one per overlapping patch."""

    def __init__(self, channels: int, width: int = 64, downsample: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = channels, width
        for _ in range(downsample):
            layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c_in, c_out = c_out, c_out * 2
        layers += [
            sn(nn.Conv2d(c_in, c_in, 3, 1, 1)),
            nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(c_in, 1, 3, 1, 1)),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)
