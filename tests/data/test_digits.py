"""scikit-learn digits: fixed split, scaling to uint8."""

from __future__ import annotations

import numpy as np

from imagegen.data import load_dataset


def test_split_sizes_and_disjointness() -> None:
    train = load_dataset("digits")
    test = load_dataset("digits", "test")
    assert train.images.shape == (1437, 8, 8, 1) and test.images.shape == (360, 8, 8, 1)
    assert train.spec.num_classes == 10 and set(np.unique(train.labels)) == set(range(10))
    flat = {
        img.tobytes() + bytes([lab]) for img, lab in zip(train.images, train.labels, strict=True)
    }
    clash = sum(
        img.tobytes() + bytes([lab]) in flat
        for img, lab in zip(test.images, test.labels, strict=True)
    )
    assert clash <= 2  # the raw data holds a few duplicate images; the split itself is disjoint


def test_scaling_and_determinism() -> None:
    from sklearn.datasets import load_digits

    raw = load_digits()
    order = np.random.default_rng(0).permutation(1797)
    ds = load_dataset("digits", limit=5)
    expected = np.rint(raw.images[order[:5]] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(ds.images[..., 0], expected)
    assert ds.images.max() == 255 or load_dataset("digits").images.max() == 255
    assert ds.labels.tolist() == raw.target[order[:5]].tolist()


def test_resize_for_models() -> None:
    ds = load_dataset("digits", "test", resolution=16, channels=3)
    assert ds.images.shape == (360, 16, 16, 3)
    assert ds.preprocessing["resolution"] == 16 and "resize" in ds.preprocessing
