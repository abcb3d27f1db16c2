"""MSE, PSNR and SSIM on [0, 1] images."""

import numpy as np
import pytest
import torch

from imagegen.errors import ImagegenError
from imagegen.metrics.reconstruction import reconstruction_metrics, ssim_window


def _ssim_brute(x, y, window=11, sigma=1.5):
    """SSIM of Wang et al. 2004 for one grayscale image pair, valid region, float64."""
    half = window // 2
    g = np.exp(-((np.arange(window) - half) ** 2) / (2 * sigma**2))
    g /= g.sum()
    w = np.outer(g, g)
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(half, x.shape[0] - half):
        for j in range(half, x.shape[1] - half):
            a = x[i - half : i + half + 1, j - half : j + half + 1]
            b = y[i - half : i + half + 1, j - half : j + half + 1]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            va = (w * a * a).sum() - mu_a**2
            vb = (w * b * b).sum() - mu_b**2
            cov = (w * a * b).sum() - mu_a * mu_b
            vals.append(
                ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
                / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
            )
    return float(np.mean(vals))


def test_identical_images_are_perfect():
    x = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 1), dtype=np.uint8)
    out = reconstruction_metrics(x, x)
    assert (
        out["mse"] == 0
        and out["psnr"] == pytest.approx(100.0)
        and out["ssim"] == pytest.approx(1.0)
    )


def test_mse_and_psnr_are_per_image_means():
    x = np.zeros((2, 8, 8, 1), dtype=np.uint8)
    y = x.copy()
    y[0] = 51  # 0.2 -> mse 0.04
    y[1] = 102  # 0.4 -> mse 0.16
    out = reconstruction_metrics(x, y)
    assert out["mse"] == pytest.approx((0.04 + 0.16) / 2)
    assert out["psnr"] == pytest.approx((10 * np.log10(1 / 0.04) + 10 * np.log10(1 / 0.16)) / 2)


def test_ssim_matches_the_paper_formula():
    rng = np.random.default_rng(1)
    x = rng.random((24, 24))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    out = reconstruction_metrics(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    assert out["ssim_window"] == 11
    assert out["ssim"] == pytest.approx(_ssim_brute(x, y), abs=1e-6)


def test_small_images_get_a_smaller_window_and_bad_input_errors():
    assert ssim_window(8, 8) == 7 and ssim_window(28, 28) == 11 and ssim_window(10, 12) == 9
    x = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    assert reconstruction_metrics(x, x)["ssim_window"] == 7
    with pytest.raises(ImagegenError, match="shape"):
        reconstruction_metrics(x, x[:, :4])
    with pytest.raises(ImagegenError, match=r"\[0, 1\]"):
        reconstruction_metrics(torch.full((1, 1, 8, 8), 2.0), torch.zeros(1, 1, 8, 8))
