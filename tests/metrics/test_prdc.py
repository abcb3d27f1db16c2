"""Precision/recall and density/coverage against brute-force loops written here."""

import numpy as np
import pytest

from imagegen.metrics.density_coverage import density_coverage
from imagegen.metrics.knn import knn_radii
from imagegen.metrics.precision_recall import precision_recall


def _dist(a, b):
    return float(np.sqrt(((a - b) ** 2).sum()))


def _radii_brute(x, k):
    out = []
    for i in range(len(x)):
        d = sorted(_dist(x[i], x[j]) for j in range(len(x)) if j != i)
        out.append(d[k - 1])
    return np.array(out)


def _inside_any(point, centres, radii):
    return any(_dist(point, c) <= r for c, r in zip(centres, radii, strict=True))


def _pr_brute(real, fake, k):
    rr, rf = _radii_brute(real, k), _radii_brute(fake, k)
    precision = np.mean([_inside_any(f, real, rr) for f in fake])
    recall = np.mean([_inside_any(r, fake, rf) for r in real])
    return precision, recall


def _dc_brute(real, fake, k):
    rr = _radii_brute(real, k)
    density = sum(_dist(f, real[i]) <= rr[i] for f in fake for i in range(len(real))) / (
        k * len(fake)
    )
    coverage = np.mean([any(_dist(f, real[i]) <= rr[i] for f in fake) for i in range(len(real))])
    return density, coverage


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 6))
    fake = np.concatenate([rng.normal(size=(25, 6)), rng.normal(3, 0.5, size=(10, 6))])
    return real, fake


def test_radii_match_brute_force(sets):
    real, _ = sets
    np.testing.assert_allclose(knn_radii(real, 3), _radii_brute(real, 3), rtol=1e-9)


def test_precision_recall_match_brute_force(sets):
    real, fake = sets
    assert precision_recall(real=real, generated=fake, k=3) == pytest.approx(
        _pr_brute(real, fake, 3)
    )


def test_density_coverage_match_brute_force(sets):
    real, fake = sets
    assert density_coverage(real=real, generated=fake, k=5) == pytest.approx(
        _dc_brute(real, fake, 5)
    )


def test_mode_collapse_keeps_precision_but_loses_recall_and_coverage():
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.normal(-4, 1, size=(150, 4)), rng.normal(4, 1, size=(150, 4))])
    collapsed = rng.normal(-4, 1, size=(300, 4))  # one of the two modes only
    p, r = precision_recall(real=real, generated=collapsed)
    d, c = density_coverage(real=real, generated=collapsed)
    assert p > 0.9 and r < 0.6
    assert c < 0.6


def test_the_order_of_real_and_generated_matters():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 4))
    narrow = rng.normal(0, 0.3, size=(200, 4))  # inside the real manifold, covering little of it
    p, r = precision_recall(real=real, generated=narrow)
    p_swapped, r_swapped = precision_recall(real=narrow, generated=real)
    assert p > r and (p, r) == pytest.approx((r_swapped, p_swapped))
    assert density_coverage(real=real, generated=narrow) != pytest.approx(
        density_coverage(real=narrow, generated=real)
    )


def test_sides_must_be_named():
    x = np.zeros((10, 2))
    with pytest.raises(TypeError):
        precision_recall(x, x)  # type: ignore[misc]
    with pytest.raises(TypeError):
        density_coverage(x, x)  # type: ignore[misc]
