"""frechet_distance and FeatureStats against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from imagegen.errors import ImagegenError
from imagegen.metrics.fid import FeatureStats, frechet_distance


def _random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q


def test_diagonal_gaussians_match_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    # For diagonal covariances sqrt(S1 S2) = diag(sqrt(a b)), so the trace term is sum (sqrt a - sqrt b)^2.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_commuting_non_diagonal_covariances_match_closed_form():
    rng = np.random.default_rng(1)
    q = _random_rotation(6, rng)
    a, b = rng.uniform(0.2, 2.0, 6), rng.uniform(0.2, 2.0, 6)
    sigma1, sigma2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_non_commuting_2x2_matches_trace_of_square_root_formula():
    # For a 2x2 M with non-negative eigenvalues, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)).
    sigma1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    sigma2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    m = sigma1 @ sigma2
    tr_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    expected = 0.25 + 9.0 + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-10)


def test_features_with_themselves_give_zero_and_distance_is_symmetric():
    rng = np.random.default_rng(2)
    x = FeatureStats.from_features(rng.standard_normal((200, 16)))
    y = FeatureStats.from_features(rng.standard_normal((200, 16)) * 1.5 + 0.3)
    assert abs(frechet_distance(x.mu, x.sigma, x.mu, x.sigma)) < 1e-6
    d_xy = frechet_distance(x.mu, x.sigma, y.mu, y.sigma)
    d_yx = frechet_distance(y.mu, y.sigma, x.mu, x.sigma)
    assert d_xy > 1.0
    assert d_xy == pytest.approx(d_yx, rel=1e-9)


def test_non_finite_sqrtm_takes_the_eps_offset_path():
    # [[0, 1], [0, 0]] is nilpotent and has no square root: sqrtm returns inf.
    sigma1, sigma2 = np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2)
    with pytest.warns(scipy.linalg.LinAlgWarning):
        assert not np.isfinite(scipy.linalg.sqrtm(sigma1 @ sigma2)).all()
    eps = 1e-6
    # (S1 + eps I)(S2 + eps I) = (1 + eps) [[eps, 1], [0, eps]], whose square root has trace
    # 2 sqrt(eps (1 + eps)).
    expected = np.trace(sigma1) + np.trace(sigma2) - 4 * np.sqrt(eps * (1 + eps))
    d = frechet_distance(np.zeros(2), sigma1, np.zeros(2), sigma2, eps=eps)
    assert d == pytest.approx(expected, rel=1e-9)


def test_large_imaginary_part_raises():
    with pytest.raises(ImagegenError, match="imaginary"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([-1.0, 1.0]))


def test_mismatched_shapes_raise():
    with pytest.raises(ImagegenError, match="do not match"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_from_features_matches_manual_mean_and_unbiased_covariance():
    rng = np.random.default_rng(3)
    feats = rng.standard_normal((30, 4)).astype(np.float32)
    stats = FeatureStats.from_features(feats)
    x = feats.astype(np.float64)
    mu = x.sum(axis=0) / 30
    sigma = (x - mu).T @ (x - mu) / 29
    assert stats.mu.dtype == np.float64 and stats.sigma.dtype == np.float64
    np.testing.assert_allclose(stats.mu, mu, rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, sigma, rtol=1e-12)
    assert stats.n == 30


def test_from_features_needs_two_finite_rows():
    with pytest.raises(ImagegenError, match="at least 2"):
        FeatureStats.from_features(np.zeros((1, 4)))
    with pytest.raises(ImagegenError, match="NaN"):
        FeatureStats.from_features(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_save_load_round_trip_is_exact_and_leaves_no_temp_files(tmp_path):
    rng = np.random.default_rng(4)
    stats = FeatureStats.from_features(rng.standard_normal((10, 3)))
    stats.meta = {"key": "abc", "dataset": "toy"}
    path = tmp_path / "sub" / "stats.npz"
    stats.save(path)
    loaded = FeatureStats.load(path)
    np.testing.assert_array_equal(loaded.mu, stats.mu)
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    assert loaded.n == 10 and loaded.meta == {"key": "abc", "dataset": "toy"}
    assert [p.name for p in path.parent.iterdir()] == ["stats.npz"]


def test_load_of_corrupt_or_missing_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImagegenError, match="delete it"):
        FeatureStats.load(bad)
    with pytest.raises(ImagegenError):
        FeatureStats.load(tmp_path / "missing.npz")
