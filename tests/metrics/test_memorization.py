"""Memorisation: nearest-neighbour distances, the share below the test quantile, worst pairs."""

import numpy as np
import pytest

from imagegen.errors import ImagegenError
from imagegen.metrics.memorization import memorization, nearest


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(7, 3)), rng.normal(size=(11, 3))
    dist, idx = nearest(q, r)
    full = np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, full.argmin(1))
    np.testing.assert_allclose(dist, full.min(1), rtol=1e-9)


def test_copies_of_training_images_are_flagged_and_new_samples_are_not():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(500, 8))
    test = rng.normal(size=(200, 8))
    fresh = rng.normal(size=(200, 8))
    copies = train[:200] + rng.normal(0, 1e-3, size=(200, 8))
    honest = memorization(train=train, test=test, generated=fresh)
    cheat = memorization(train=train, test=test, generated=copies)
    assert honest.share < 0.15 and honest.median_ratio == pytest.approx(1.0, abs=0.2)
    assert cheat.share == 1.0 and cheat.median_ratio < 0.01
    # The closest pairs point at the copied training images, closest first.
    assert list(cheat.closest[:, 0]) == list(cheat.closest[:, 1])
    assert np.all(np.diff(cheat.closest_distances) >= 0) and len(cheat.closest) == 10


def test_bad_quantile():
    x = np.zeros((3, 2))
    with pytest.raises(ImagegenError, match="quantile"):
        memorization(train=x, test=x, generated=x, quantile=1.5)
