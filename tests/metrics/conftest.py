"""Shared fixtures: toy datasets and a cheap stand-in for the Inception network."""

from __future__ import annotations

import numpy as np
import pytest

from imagegen.data.base import DataSpec, ImageDataset
from imagegen.metrics.inception import InceptionFeatures


def _toy_dataset(images: np.ndarray, name: str = "toy", split: str = "test") -> ImageDataset:
    n, h, w, c = images.shape
    return ImageDataset(images=images, spec=DataSpec(name, c, h), split=split, source="tests")


def _random_images(n: int, lo: int = 0, hi: int = 256, c: int = 3, size: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(n, size, size, c), dtype=np.uint8)


@pytest.fixture
def toy_dataset():
    """``toy_dataset(images, name="toy", split="test") -> ImageDataset``."""
    return _toy_dataset


@pytest.fixture
def random_images():
    """``random_images(n, lo=0, hi=256, c=3, size=8, seed=0)`` -> uint8 (n, size, size, c)."""
    return _random_images


def _fake_features(images: np.ndarray) -> np.ndarray:
    """6-d features (per-channel mean and std): cheap, deterministic, full-rank covariance."""
    x = images.astype(np.float64) / 255.0
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)


@pytest.fixture
def fake_extract(monkeypatch):
    """Replace InceptionFeatures.extract by 6-d statistics; returns the list of calls made."""
    calls: list[dict] = []

    def extract(self, images, progress=None):
        calls.append({"n": len(images), "resize": self.resize})
        if progress is not None:
            progress(len(images), len(images))
        return _fake_features(images)

    monkeypatch.setattr(InceptionFeatures, "extract", extract)
    return calls
