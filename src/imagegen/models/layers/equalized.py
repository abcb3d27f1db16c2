"""Equalised learning rate layers, pixel norm and minibatch standard deviation (Karras et al. 2018).

Weights are stored as N(0, 1) / lr_mul and scaled by lr_mul / sqrt(fan_in) at run time (He's
constant, as in StyleGAN), so Adam sees every layer at the same scale and each learns at the same
speed whatever its fan-in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2)


class EqualLinear(nn.Module):
    """y = x (W * lr_mul / sqrt(fan_in))^T + b * lr_mul.

    Args:
        lr_mul: learning-rate multiplier (0.01 in StyleGAN's mapping network).
        bias_init: initial value of the (effective) bias.
    """

    def __init__(
        self, fan_in: int, fan_out: int, lr_mul: float = 1.0, bias_init: float = 0.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), bias_init / lr_mul))
        self.w_gain = lr_mul / math.sqrt(fan_in)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_gain, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """3x3 (or k x k) convolution with the weight scaled by 1 / sqrt(fan_in) at run time."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.w_gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.w_gain, self.bias, padding=self.padding)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) with He's gain sqrt(2): the equalised layers scale by 1 / sqrt(fan_in)
    only, so without the gain every layer would halve its features' power."""
    return F.leaky_relu(x, 0.2) * SQRT2


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each feature vector to unit average square: x / sqrt(mean_c x^2 + eps)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation over groups of images as one more feature map.

    (B, C, H, W) -> (B, C + 1, H, W): each group of ``group`` images (or the batch, if it does
    not divide by it) gets the std of every feature over the group, averaged to one number, so D
    can see a batch with too little variety (Karras et al. 2018, Sec. 3).
    """
    b, c, h, w = x.shape
    g = min(group, b)
    if b % g:
        g = b
    y = x.float().view(g, b // g, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (B/g, C, H, W)
    y = y.mean(dim=(1, 2, 3))  # (B/g,)
    y = y.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)
