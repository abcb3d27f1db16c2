"""Shared fixtures: tiny datasets and tiny model configs so each model test runs in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec, ImageDataset

torch.set_num_threads(min(2, torch.get_num_threads()))

TINY = {
    "dcgan": {"z_dim": 8, "width": 32},
    "wgan_gp": {"z_dim": 8, "width": 32},
    "sagan": {"z_dim": 8, "width": 32},
    "sngan": {"z_dim": 8, "width": 32},
    "cgan": {"z_dim": 8, "width": 32, "embed_dim": 8, "aux_weight": 1.0},
    "biggan": {"z_dim": 12, "width": 32, "embed_dim": 8, "conditional": False},
    "stylegan": {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "width": 32},
    "pggan": {"z_dim": 8, "width": 32},
    "vae": {"latent_dim": 4, "width": 32},
    "beta_vae": {"latent_dim": 4, "width": 32, "capacity": 5.0},
    "cvae": {"latent_dim": 4, "width": 32},
    "hvae": {"width": 16, "groups": 2, "z_channels": 2},
    "vqvae": {
        "width": 32,
        "res_blocks": 1,
        "num_codes": 16,
        "code_dim": 4,
        "prior_dim": 16,
        "prior_depth": 1,
        "prior_heads": 2,
    },
    "klvae": {"width": 32, "norm_groups": 8, "latent_channels": 2, "mid_attention": False},
    "ddpm": {"channels": [16, 32], "attention": [False, True], "timesteps": 100, "sample_steps": 5},
}
TINY["ldm"] = {
    "channels": [32],
    "attention": [False],
    "timesteps": 100,
    "sample_steps": 5,
    "autoencoder_model": "vqvae",
    "autoencoder_config": TINY["vqvae"],
}


def shared_data_dir() -> Path:
    """The real datasets beside the checkout (../shared/data) or $IMAGEGEN_TEST_DATA."""
    env = os.environ.get("IMAGEGEN_TEST_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def halves_dataset(n: int = 64, resolution: int = 8) -> ImageDataset:
    """Two trivially learnable classes: 0 = top half white, 1 = bottom half white (rest black)."""
    images = np.zeros((n, resolution, resolution, 1), dtype=np.uint8)
    labels = np.arange(n) % 2
    h = resolution // 2
    images[labels == 0, :h] = 255
    images[labels == 1, h:] = 255
    return ImageDataset(
        images=images, spec=DataSpec("halves", 1, resolution, 2, ("top", "bottom")), labels=labels
    )


@pytest.fixture
def halves() -> ImageDataset:
    return halves_dataset()
