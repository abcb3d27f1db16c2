"""The procedural shapes dataset: determinism, limits, and captions that match the pixels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from imagegen.data import load_dataset
from imagegen.data.shapes import ATTRIBUTE_NAMES, COLOURS, POSITIONS, RGB, SHAPES, SIZES
from imagegen.errors import DataError


def test_deterministic_and_limit_is_a_prefix() -> None:
    a = load_dataset("shapes", limit=50)
    b = load_dataset("shapes", limit=50)
    c = load_dataset("shapes", limit=20)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.fingerprint == b.fingerprint
    np.testing.assert_array_equal(a.images[:20], c.images)
    assert a.captions[:20] == c.captions
    assert a.images.shape == (50, 32, 32, 3) and a.labels.dtype == np.int64


def test_train_test_and_seeds_differ() -> None:
    train = load_dataset("shapes", "train", limit=20)
    test = load_dataset("shapes", "test", limit=20)
    other = load_dataset("shapes", "train", limit=20, seed=1)
    assert not np.array_equal(train.images, test.images)
    assert not np.array_equal(train.images, other.images)
    assert other.preprocessing["seed"] == 1


def test_full_test_split_size_and_speed() -> None:
    t = time.perf_counter()
    ds = load_dataset("shapes", "test")
    elapsed = time.perf_counter() - t
    assert len(ds) == 2000
    assert elapsed < 4.0, f"2,000 shapes took {elapsed:.1f} s"
    # every factor value occurs, and the background never equals the shape colour
    for key, names in ATTRIBUTE_NAMES.items():
        assert set(np.unique(ds.attributes[key])) == set(range(len(names)))
    assert (ds.attributes["colour"] != ds.attributes["background"]).all()
    assert (ds.labels == ds.attributes["shape"]).all()


def test_captions_match_attributes() -> None:
    ds = load_dataset("shapes", limit=200)
    a = ds.attributes
    for i in range(len(ds)):
        cap = ds.captions[i]
        assert cap.startswith(
            f"a {SIZES[a['size'][i]]} {COLOURS[a['colour'][i]]} {SHAPES[a['shape'][i]]} "
        )
        assert cap.endswith(f" on a {COLOURS[a['background'][i]]} background")
        pos = POSITIONS[a["position"][i]]
        assert pos in cap
    assert ds.captions[0].count(" on a ") >= 1
    assert ds.attribute_names["position"] == POSITIONS


@pytest.mark.parametrize("resolution", [32, 64])
def test_pixels_match_attributes(resolution: int) -> None:
    ds = load_dataset("shapes", limit=300, resolution=resolution)
    cell = resolution / 3
    a = ds.attributes
    large_checked = 0
    for i in range(len(ds)):
        row, col = divmod(int(a["position"][i]), 3)
        fg = RGB[a["colour"][i]].astype(np.uint8)
        bg = RGB[a["background"][i]].astype(np.uint8)
        if a["size"][i] == 1:  # a large shape covers its grid cell's centre pixel
            y, x = int((row + 0.5) * cell), int((col + 0.5) * cell)
            assert ds.images[i, y, x].tolist() == fg.tolist(), ds.captions[i]
            large_checked += 1
        # the centre of the diagonally opposite cell is background
        y, x = int((2 - row + 0.5) * cell), int((2 - col + 0.5) * cell)
        if (2 - row, 2 - col) != (row, col):
            assert ds.images[i, y, x].tolist() == bg.tolist(), ds.captions[i]
    assert large_checked > 100


def test_large_shapes_cover_more_pixels_than_small() -> None:
    ds = load_dataset("shapes", limit=400)
    fg = RGB[ds.attributes["colour"]].astype(np.uint8)[:, None, None, :]
    area = (ds.images == fg).all(-1).sum((1, 2))
    small, large = area[ds.attributes["size"] == 0], area[ds.attributes["size"] == 1]
    assert small.min() > 0
    assert np.median(large) > 1.8 * np.median(small)


def test_gray_and_bad_resolution() -> None:
    ds = load_dataset("shapes", limit=4, channels=1, resolution=16)
    assert ds.images.shape == (4, 16, 16, 1)
    with pytest.raises(DataError, match="resolution >= 8"):
        load_dataset("shapes", resolution=4)
