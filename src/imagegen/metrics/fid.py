"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule").

Features of real and generated images are each summarised by a Gaussian ``N(mu, sigma)``; FID is the
Fréchet (2-Wasserstein) distance between the two Gaussians.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg

from imagegen.errors import ImagegenError

# The largest imaginary part of diag(sqrtm(sigma1 sigma2)) we treat as round-off (pytorch-fid's bound).
IMAG_TOL = 1e-3


@dataclass
class FeatureStats:
    """Mean and covariance of a feature set.

    Attributes:
        mu: float64 ``(D,)`` feature mean.
        sigma: float64 ``(D, D)`` unbiased feature covariance (``np.cov``, ddof=1).
        n: number of feature vectors summarised.
        meta: free-form string metadata saved with the file (e.g. a cache key).
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mu = np.asarray(self.mu, dtype=np.float64)
        self.sigma = np.asarray(self.sigma, dtype=np.float64)
        d = self.mu.shape[0] if self.mu.ndim == 1 else -1
        if d < 1 or self.sigma.shape != (d, d):
            raise ValueError(
                f"mu must be (D,) and sigma (D, D), got {self.mu.shape} and {self.sigma.shape}"
            )
        self.n = int(self.n)

    @classmethod
    def from_features(cls, feats: np.ndarray) -> FeatureStats:
        """Statistics of ``feats``: float ``(N, D)`` with N >= 2."""
        feats = np.asarray(feats, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[0] < 2:
            raise ImagegenError(
                f"need at least 2 feature vectors (N, D) for a covariance, got shape {feats.shape}: "
                "use more images"
            )
        if not np.isfinite(feats).all():
            raise ImagegenError(
                "features contain NaN or inf: check the images and the weights file"
            )
        mu = feats.mean(axis=0)
        sigma = np.cov(feats, rowvar=False)
        return cls(mu=mu, sigma=sigma, n=feats.shape[0])

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (no pickles) atomically: a reader never sees a half-written file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    mu=self.mu,
                    sigma=self.sigma,
                    n=np.int64(self.n),
                    meta=np.array(json.dumps(self.meta, sort_keys=True)),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read a file written by :meth:`save`; ImagegenError if it is missing or malformed."""
        try:
            # Our own file handle: np.load leaks its handle when the zip is corrupt.
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
                stats = cls(mu=z["mu"], sigma=z["sigma"], n=int(z["n"]), meta=meta)
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
            raise ImagegenError(
                f"cannot read FID statistics {path} ({e.__class__.__name__}: {e}): delete it and recompute"
            ) from e
        return stats


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))`` (Dowson & Landau 1982),
    computed in float64 with :func:`scipy.linalg.sqrtm`.

    Args:
        mu1, mu2: float ``(D,)`` means.
        sigma1, sigma2: float ``(D, D)`` covariances.
        eps: diagonal offset added to both covariances when ``sqrtm`` of their product is not finite
            (rank-deficient covariances, e.g. fewer images than feature dimensions).

    Returns:
        The squared distance as a Python float (>= 0 up to round-off).

    Raises:
        ImagegenError: shapes disagree, or the square root has a non-negligible imaginary part.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != mu2.shape or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ImagegenError(
            f"FID statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs "
            f"{sigma2.shape}: compute both with the same feature network"
        )

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))

    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if imag > IMAG_TOL:
            raise ImagegenError(
                f"FID: sqrt(sigma1 sigma2) has an imaginary part of {imag:.3g} (> {IMAG_TOL}); the "
                "covariances are not valid or badly rank-deficient: use more images (>= 2048)"
            )
        covmean = covmean.real

    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """scipy's matrix square root without its "singular matrix" warning.

    Covariances from fewer samples than feature dimensions are always singular; the caller handles
    the consequences (eps offset, imaginary-part check) and the metric card flags small sample sizes.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(a)
