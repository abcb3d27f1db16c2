"""Reconstruction / translation metrics on [0, 1] images: MSE, PSNR and SSIM.

SSIM follows the original paper (Wang et al. 2004): an 11x11 Gaussian window with sigma 1.5,
K1 = 0.01, K2 = 0.03, averaged over the positions where the window fits inside the image (as
scikit-image does) and over channels. It is written here because torchmetrics averages over
reflection-padded borders too, which gives other numbers. Images smaller than 11 pixels get the
largest odd window that fits, and the result says which window was used.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from imagegen.errors import ImagegenError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
# PSNR of a perfect reconstruction is infinite; an MSE floor keeps the mean finite (100 dB).
MSE_FLOOR = 1e-10


def to_unit_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` -> float64 ``(N, C, H, W)`` in [0, 1]; float input must be NCHW [0, 1]."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        if images.ndim != 4:
            raise ImagegenError(f"images must be (N, H, W, C) uint8, got shape {images.shape}")
        return torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255.0
    x = torch.as_tensor(images).double()
    if x.ndim != 4 or x.min() < 0 or x.max() > 1:
        raise ImagegenError(
            "float images must be (N, C, H, W) in [0, 1]: convert with (x + 1) / 2 from [-1, 1]"
        )
    return x


def ssim_window(height: int, width: int) -> int:
    """The Gaussian window side used for images of this size (11, or the largest odd that fits)."""
    side = min(SSIM_WINDOW, height, width)
    return side if side % 2 else side - 1


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-image SSIM of float ``(N, C, H, W)`` images in [0, 1] (data range 1): ``(N,)``."""
    half = window // 2
    g = torch.exp(-((torch.arange(window, dtype=x.dtype) - half) ** 2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    c = x.shape[1]
    kernel = torch.outer(g, g).expand(c, 1, window, window)  # one depthwise Gaussian per channel

    def blur(z: torch.Tensor) -> torch.Tensor:  # local weighted mean, valid positions only
        return F.conv2d(z, kernel, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    # Eq. 13 of Wang et al. 2004
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean(dim=(1, 2, 3))


def reconstruction_metrics(
    originals: np.ndarray | torch.Tensor, reconstructions: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """Mean per-image MSE, PSNR (dB, peak 1) and SSIM of ``reconstructions`` against ``originals``.

    Args:
        originals: the targets, uint8 ``(N, H, W, C)`` or float ``(N, C, H, W)`` in [0, 1].
        reconstructions: same shape and kind as ``originals``.

    Returns:
        ``{"mse", "psnr", "ssim", "ssim_window"}``; each score is the mean over images.
    """
    x = to_unit_float(originals)
    x_hat = to_unit_float(reconstructions)
    if x.shape != x_hat.shape:
        raise ImagegenError(
            f"originals {tuple(x.shape)} and reconstructions {tuple(x_hat.shape)} differ in shape"
        )
    mse = (x - x_hat).pow(2).mean(dim=(1, 2, 3))  # (N,)
    psnr = 10 * torch.log10(1.0 / mse.clamp_min(MSE_FLOOR))
    window = ssim_window(x.shape[2], x.shape[3])
    if window < 3:
        raise ImagegenError(f"SSIM needs images of at least 3x3 pixels, got {tuple(x.shape[2:])}")
    return {
        "mse": float(mse.mean()),
        "psnr": float(psnr.mean()),
        "ssim": float(ssim(x_hat, x, window).mean()),
        "ssim_window": window,
    }
