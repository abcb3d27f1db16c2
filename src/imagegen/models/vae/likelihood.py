"""Pixel likelihoods p(x|z) of the VAE family, on images in [-1, 1] with 256 levels.

- "gaussian": N(x; mu, sigma^2) with a fixed sigma (``obs_sigma``); a continuous density, reported
  in bits/dim after the usual discretisation correction (+ log 127.5 nats per dimension for bins
  of width 2/255, a bound of the discrete likelihood).
- "bernoulli": cross-entropy of sigmoid(logits) against pixels mapped to [0, 1]; sharp on
  near-binary data like MNIST, but not a normalised likelihood of 8-bit grey levels.
- "logistic": discretised logistic (Salimans et al. 2017, PixelCNN++ Eq. 2) with a per-pixel mean
  and log-scale: a proper likelihood of the 256 pixel levels, so its ELBO is an honest bound in
  nats and bits/dim.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Likelihood = Literal["gaussian", "bernoulli", "logistic"]
LIKELIHOODS: tuple[str, ...] = ("gaussian", "bernoulli", "logistic")
HALF_BIN = 1.0 / 255.0  # half the width of one of the 256 levels on the [-1, 1] scale


def out_channels(kind: Likelihood, channels: int) -> int:
    """Decoder output channels: the mean (and, for "logistic", a log-scale per channel)."""
    return 2 * channels if kind == "logistic" else channels


def mean(kind: Likelihood, h: torch.Tensor) -> torch.Tensor:
    """Decoder output ``h`` -> the likelihood's mean image in [-1, 1], (B, C, H, W)."""
    if kind == "bernoulli":
        return torch.sigmoid(h) * 2 - 1
    if kind == "logistic":
        h = h.chunk(2, dim=1)[0]
    return h.clamp(-1, 1)


def discretized_logistic_nll(
    x: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor
) -> torch.Tensor:
    """-log P(x) of 8-bit pixels under a logistic discretised to 256 bins, elementwise (nats).

    The edge bins take the tails: P(x=-1) = sigma((-1 + 1/255 - mu)/s), P(x=1) = 1 - sigma(...).
    """
    log_s = log_s.clamp(min=-7.0)
    inv_s = torch.exp(-log_s)
    plus = inv_s * (x - mu + HALF_BIN)
    minus = inv_s * (x - mu - HALF_BIN)
    log_cdf_plus = plus - F.softplus(plus)  # log sigma(plus)
    log_one_minus_cdf_minus = -F.softplus(minus)  # log(1 - sigma(minus))
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv_s * (x - mu)
    # log of the density times the bin width, where the CDF difference underflows
    log_pdf_mid = mid - log_s - 2.0 * F.softplus(mid) + math.log(2 * HALF_BIN)
    log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
    log_p = torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_mid)
    )
    return -log_p


def nll(kind: Likelihood, h: torch.Tensor, x: torch.Tensor, obs_sigma: float = 0.1) -> torch.Tensor:
    """-log p(x|z) in nats per image, ``(B,)``, computed in float32.

    Args:
        kind: the likelihood.
        h: decoder output, (B, out_channels, H, W).
        x: the images, (B, C, H, W) in [-1, 1].
        obs_sigma: std of the Gaussian likelihood (a float or a 0-d tensor).
    """
    h, x = h.float(), x.float()
    if kind == "bernoulli":
        target = (x + 1) / 2
        return F.binary_cross_entropy_with_logits(h, target, reduction="none").flatten(1).sum(1)
    if kind == "logistic":
        mu, log_s = h.chunk(2, dim=1)
        return discretized_logistic_nll(x, mu, log_s).flatten(1).sum(1)
    d = x[0].numel()
    sq = (x - h).pow(2).flatten(1).sum(1)
    log_sigma = torch.log(torch.as_tensor(obs_sigma, dtype=torch.float32, device=x.device))
    return sq / (2 * obs_sigma**2) + d * (log_sigma + 0.5 * math.log(2 * math.pi))


def discrete_nats(kind: Likelihood, nats: torch.Tensor, dims: int) -> torch.Tensor:
    """Nats of a bound on the 8-bit data: a Gaussian density gains log(127.5) per dimension
    (bins of width 2/255 on the [-1, 1] scale); the others are already discrete."""
    return nats + dims * math.log(127.5) if kind == "gaussian" else nats


def bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Nats per image -> bits per dimension."""
    return nats / (dims * math.log(2))
