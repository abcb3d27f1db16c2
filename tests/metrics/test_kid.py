"""KID against a brute-force double loop written here, plus its basic properties."""

import numpy as np
import pytest

from imagegen.metrics.kid import kernel_inception_distance, mmd2_unbiased


def _mmd2_brute(x, y):
    def k(a, b):
        return (float(a @ b) / len(a) + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5))
    y = rng.normal(0.5, 1.3, size=(9, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_brute(x, y), rel=1e-10)


def test_one_full_subset_equals_the_full_estimate():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4))
    y = rng.normal(1.0, 1.0, size=(20, 4))
    mean, std = kernel_inception_distance(real=x, generated=y, subsets=1, subset_size=20)
    assert mean == pytest.approx(_mmd2_brute(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 8))
    same = rng.normal(size=(400, 8))
    near = rng.normal(0.3, 1.0, size=(400, 8))
    far = rng.normal(1.0, 1.0, size=(400, 8))
    k_same, s_same = kernel_inception_distance(
        real=real, generated=same, subsets=20, subset_size=200
    )
    k_near, _ = kernel_inception_distance(real=real, generated=near, subsets=20, subset_size=200)
    k_far, _ = kernel_inception_distance(real=real, generated=far, subsets=20, subset_size=200)
    assert abs(k_same) < 3 * s_same + 1e-3  # unbiased: zero within its noise
    assert k_same < k_near < k_far


def test_kid_subsets_are_seeded():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(60, 3))
    a = kernel_inception_distance(real=x, generated=y, subsets=5, subset_size=10, seed=7)
    b = kernel_inception_distance(real=x, generated=y, subsets=5, subset_size=10, seed=7)
    c = kernel_inception_distance(real=x, generated=y, subsets=5, subset_size=10, seed=8)
    assert a == b and a != c
