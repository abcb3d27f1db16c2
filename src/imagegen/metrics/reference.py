"""Reference (real-image) features and FID statistics, cached on disk.

Features of a reference dataset cost minutes to hours on a CPU, and the same statistics serve every
evaluation against that dataset, so they are stored under ``<cache>/fid_stats/``: the mean and
covariance for FID (``<name>-<split>-<key>.npz``) and, once a metric needs them (KID,
precision/recall, density/coverage), the features themselves (``...features.npz``, float32 as the
network computes them, so nothing is lost). The cache key covers
everything that changes the numbers: dataset fingerprint, number of images used, resize mode and the
weights file's sha256. The key is stored inside the file as well, and a file whose key, shapes or
values do not check out is recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.errors import ConfigError, ImagegenError
from imagegen.metrics.fid import FeatureStats
from imagegen.metrics.inception import InceptionFeatures

log = logging.getLogger(__name__)

# Bump when the meaning of cached statistics changes (preprocessing, stats format).
CACHE_VERSION = 1
# Subsets of the reference set are drawn with this seed (ImageDataset.subset), so they are reproducible.
SUBSET_SEED = 0


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding reference statistics: ``<cache_dir | $IMAGEGEN_CACHE | ~/.cache/imagegen>/fid_stats``."""
    if cache_dir is None:
        cache_dir = os.environ.get("IMAGEGEN_CACHE") or Path.home() / ".cache" / "imagegen"
    return Path(cache_dir).expanduser() / "fid_stats"


def reference_size(dataset: ImageDataset, n: int | None) -> int:
    """How many reference images are used: all when ``n`` is None or exceeds the dataset."""
    if n is None:
        return len(dataset)
    if int(n) < 2:
        raise ConfigError(f"n_ref must be >= 2 (a covariance needs two images), got {n}")
    return min(int(n), len(dataset))


def reference_key(
    dataset: ImageDataset, n_used: int, resize: str, weights_sha256: str, precision: str = "fp32"
) -> str:
    """sha256 hex key of everything the reference statistics depend on."""
    payload = {
        "version": CACHE_VERSION,
        "fingerprint": dataset.fingerprint,
        "n": int(n_used),
        "subset_seed": SUBSET_SEED,
        "resize": resize,
        "weights_sha256": weights_sha256,
    }
    if precision != "fp32":  # exact fp32 keeps the key it always had
        payload["precision"] = precision
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def reference_cache_path(
    dataset: ImageDataset, key: str, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Cache file for ``key``; the dataset name and split are only there to help humans browse."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset.spec.name).name or "dataset").strip("._")
    return cache_root(cache_dir) / f"{name or 'dataset'}-{dataset.split}-{key[:16]}.npz"


def features_cache_path(stats_path: Path) -> Path:
    """Where the features behind the statistics file ``stats_path`` are kept."""
    return stats_path.with_name(stats_path.name[: -len(".npz")] + ".features.npz")


def load_cached_features(path: Path, key: str, n_used: int) -> np.ndarray | None:
    """Cached float32 ``(n_used, D)`` features at ``path`` if they check out against ``key``."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            stored_key, feats = str(z["key"]), z["features"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        log.warning("ignoring unreadable reference features %s: %s", path, e)
        return None
    if stored_key != key or feats.ndim != 2 or feats.shape[0] != n_used:
        log.warning("ignoring stale reference features %s (key or shape do not match)", path)
        return None
    if not np.isfinite(feats).all():
        log.warning("ignoring reference features %s with non-finite values", path)
        return None
    return feats


def save_features(path: Path, feats: np.ndarray, key: str) -> None:
    """Write features atomically (temp file, then rename), no pickles."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(key), features=feats.astype(np.float32))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cached(path: Path, key: str, n_used: int) -> FeatureStats | None:
    """The cached statistics at ``path`` if they exist and check out against ``key``, else None."""
    if not path.is_file():
        return None
    try:
        stats = FeatureStats.load(path)
    except ImagegenError as e:
        log.warning("ignoring unreadable FID reference cache %s: %s", path, e)
        return None
    ok = (
        stats.meta.get("key") == key
        and stats.n == n_used
        and np.isfinite(stats.mu).all()
        and np.isfinite(stats.sigma).all()
    )
    if not ok:
        log.warning("ignoring stale FID reference cache %s (key or contents do not match)", path)
        return None
    return stats


def reference_stats(
    dataset: ImageDataset,
    extractor: InceptionFeatures,
    *,
    n: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureStats:
    """Feature statistics of ``dataset``, from the cache or computed and cached.

    Args:
        dataset: reference images.
        extractor: the feature network (its resize mode and weights enter the cache key).
        n: use a deterministic random subset of this many images (all when None or larger).
        cache_dir: cache base folder; None uses ``$IMAGEGEN_CACHE`` or ``~/.cache/imagegen``.
        progress: ``progress(done, total)`` while features are extracted (not called on a hit).

    Returns:
        FeatureStats with ``meta`` holding the key, dataset name/split/fingerprint and ``cache_path``.
    """
    n_used, key, path = _locate(dataset, extractor, n, cache_dir)
    stats = load_cached(path, key, n_used)
    if stats is not None:
        log.info("FID reference statistics from cache %s", path)
    else:
        feats = load_cached_features(features_cache_path(path), key, n_used)
        if feats is None:
            feats = _extract(dataset, extractor, n_used, progress)
        stats = _stats_from(feats, dataset, extractor, key)
        _try_save(path, stats.save)
    stats.meta["cache_path"] = str(path)
    return stats


def reference_features(
    dataset: ImageDataset,
    extractor: InceptionFeatures,
    *,
    n: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, FeatureStats]:
    """Features of ``dataset`` and their statistics, from the cache or computed and cached.

    Arguments as :func:`reference_stats`.

    Returns:
        (``(N, D)`` features, float64 when fresh and float32 from the cache (the network computes
        float32, so both hold the same values), and their FeatureStats as from
        :func:`reference_stats`).
    """
    n_used, key, path = _locate(dataset, extractor, n, cache_dir)
    fpath = features_cache_path(path)
    feats = load_cached_features(fpath, key, n_used)
    if feats is None:
        feats = _extract(dataset, extractor, n_used, progress)
        _try_save(fpath, lambda p: save_features(p, feats, key))
    else:
        log.info("reference features from cache %s", fpath)
    stats = load_cached(path, key, n_used)
    if stats is None:
        stats = _stats_from(feats, dataset, extractor, key)
        _try_save(path, stats.save)
    stats.meta["cache_path"] = str(path)
    return feats, stats


def _locate(
    dataset: ImageDataset,
    extractor: InceptionFeatures,
    n: int | None,
    cache_dir: str | os.PathLike | None,
) -> tuple[int, str, Path]:
    n_used = reference_size(dataset, n)
    key = reference_key(
        dataset, n_used, extractor.resize, extractor.weights_sha256, extractor.precision
    )
    return n_used, key, reference_cache_path(dataset, key, cache_dir)


def _extract(
    dataset: ImageDataset,
    extractor: InceptionFeatures,
    n_used: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    log.info("computing reference features of %d images of %s", n_used, dataset.spec.name)
    subset = dataset.subset(n_used, seed=SUBSET_SEED)
    return extractor.extract(subset.images, progress=progress)


def _stats_from(
    feats: np.ndarray, dataset: ImageDataset, extractor: InceptionFeatures, key: str
) -> FeatureStats:
    stats = FeatureStats.from_features(feats)
    stats.meta = {
        "key": key,
        "dataset": dataset.spec.name,
        "split": dataset.split,
        "fingerprint": dataset.fingerprint,
        "resize": extractor.resize,
        "weights_sha256": extractor.weights_sha256,
    }
    return stats


def _try_save(path: Path, save: Callable[[Path], None]) -> None:
    try:
        save(path)
    except OSError as e:
        # A read-only cache must not cost the user the evaluation they just paid for.
        log.warning("could not write reference cache %s: %s", path, e)
