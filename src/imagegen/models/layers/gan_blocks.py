"""Residual GAN blocks (SNGAN / SAGAN / BigGAN style), conditional batch norm and 2-D self-attention.

Spectral normalisation is torch's own parametrisation (``torch.nn.utils.parametrizations``): one
power iteration per forward pass in training, as in Miyato et al. (2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``enabled``."""
    return spectral_norm(module) if enabled else module


@torch.no_grad()
def orthogonal_init_(net: nn.Module) -> nn.Module:
    """Orthogonal initialisation (Saxe et al. 2014) of every conv and linear weight in ``net``,
    as BigGAN initialises G and D; a spectrally normalised layer gets its raw weight re-drawn and
    its power-iteration vectors re-estimated for it. Biases are left as they are."""
    for m in net.modules():
        if not isinstance(m, nn.Conv2d | nn.Linear):
            continue
        normalised = parametrize.is_parametrized(m, "weight")
        if normalised:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        nn.init.orthogonal_(m.weight)
        if normalised:
            spectral_norm(m)
    return net


class Norm2d(nn.Module):
    """Batch norm, optionally class/latent-conditional (de Vries et al. 2017; BigGAN).

    With ``cond_dim`` > 0 the affine parameters come from a conditioning vector c (B, cond_dim):
    y = BN(x) * (1 + W_gamma c) + W_beta c; otherwise they are learned constants.
    """

    def __init__(self, channels: int, cond_dim: int = 0, spectral: bool = False) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        if cond_dim:
            self.gain = sn(nn.Linear(cond_dim, channels, bias=False), spectral)
            self.bias = sn(nn.Linear(cond_dim, channels, bias=False), spectral)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)
        if not self.cond_dim:
            return h
        gain = 1 + self.gain(c)[:, :, None, None]  # (B, C, 1, 1)
        return h * gain + self.bias(c)[:, :, None, None]


class GBlock(nn.Module):
    """Residual up-block: (B, C_in, H, W) [, c] -> (B, C_out, 2H, 2W).

    h = conv(ReLU(norm(conv(up(ReLU(norm(x))))))), shortcut conv1x1(up(x)) (Miyato et al. 2018,
    App. B; BigGAN's block with conditional norms).
    """

    def __init__(
        self, c_in: int, c_out: int, cond_dim: int = 0, spectral: bool = False, up: bool = True
    ) -> None:
        super().__init__()
        self.up = up
        self.norm1 = Norm2d(c_in, cond_dim, spectral)
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral)
        self.norm2 = Norm2d(c_out, cond_dim, spectral)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), spectral)

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else x

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(self._up(F.relu(self.norm1(x, c))))
        h = self.conv2(F.relu(self.norm2(h, c)))
        return h + self.skip(self._up(x))


class DBlock(nn.Module):
    """Residual down-block: (B, C_in, H, W) -> (B, C_out, H/2, W/2) (or same size, down=False).

    Pre-activation h = pool(conv(ReLU(conv(ReLU(x))))); the first block of a discriminator skips the
    leading ReLU (it sees images) and pools before its shortcut conv (Miyato et al. 2018). ``norm``
    "layer" puts a layer norm (GroupNorm with one group) before each ReLU: the critic norm WGAN-GP
    recommends, since batch norm breaks the per-image gradient penalty.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        spectral: bool = False,
        down: bool = True,
        first: bool = False,
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), spectral) if c_in != c_out or down else None
        layer = norm == "layer"
        self.norm1 = nn.GroupNorm(1, c_in) if layer and not first else nn.Identity()
        self.norm2 = nn.GroupNorm(1, c_out) if layer else nn.Identity()

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        h = self._pool(h)
        if self.skip is None:
            return h + x
        s = self.skip(self._pool(x)) if self.first else self._pool(self.skip(x))
        return h + s


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + gamma * o, gamma starting at 0.

    Queries and keys are 1x1 convolutions to C/8 channels, values to C/2; attention runs over
    all H*W positions: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, spectral: bool = True) -> None:
        super().__init__()
        self.q = sn(nn.Conv2d(channels, max(channels // 8, 1), 1, bias=False), spectral)
        self.k = sn(nn.Conv2d(channels, max(channels // 8, 1), 1, bias=False), spectral)
        self.v = sn(nn.Conv2d(channels, max(channels // 2, 1), 1, bias=False), spectral)
        self.o = sn(nn.Conv2d(max(channels // 2, 1), channels, 1, bias=False), spectral)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.q(x).flatten(2)  # (B, C/8, HW)
        k = self.k(x).flatten(2)  # (B, C/8, HW)
        v = self.v(x).flatten(2)  # (B, C/2, HW)
        beta = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, HW query, HW key)
        o = (v @ beta.transpose(1, 2)).view(b, -1, h, w)  # (B, C/2, H, W)
        return x + self.gamma * self.o(o)
