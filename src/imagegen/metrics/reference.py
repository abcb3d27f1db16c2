"""Reference (real-image) FID statistics, cached on disk.

Features of a reference dataset cost minutes to hours on a CPU, and the same statistics serve every
evaluation against that dataset, so they are stored under ``<cache>/fid_stats/``. The cache key covers
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


def reference_key(dataset: ImageDataset, n_used: int, resize: str, weights_sha256: str) -> str:
    """sha256 hex key of everything the reference statistics depend on."""
    payload = {
        "version": CACHE_VERSION,
        "fingerprint": dataset.fingerprint,
        "n": int(n_used),
        "subset_seed": SUBSET_SEED,
        "resize": resize,
        "weights_sha256": weights_sha256,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def reference_cache_path(
    dataset: ImageDataset, key: str, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Cache file for ``key``; the dataset name and split are only there to help humans browse."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(dataset.spec.name).name or "dataset").strip("._")
    return cache_root(cache_dir) / f"{name or 'dataset'}-{dataset.split}-{key[:16]}.npz"


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
    n_used = reference_size(dataset, n)
    key = reference_key(dataset, n_used, extractor.resize, extractor.weights_sha256)
    path = reference_cache_path(dataset, key, cache_dir)
    stats = load_cached(path, key, n_used)
    if stats is not None:
        log.info("FID reference statistics from cache %s", path)
    else:
        log.info("computing FID reference statistics of %d images of %s", n_used, dataset.spec.name)
        subset = dataset.subset(n_used, seed=SUBSET_SEED)
        stats = FeatureStats.from_features(extractor.extract(subset.images, progress=progress))
        stats.meta = {
            "key": key,
            "dataset": dataset.spec.name,
            "split": dataset.split,
            "fingerprint": dataset.fingerprint,
            "resize": extractor.resize,
            "weights_sha256": extractor.weights_sha256,
        }
        try:
            stats.save(path)
        except OSError as e:
            # A read-only cache must not cost the user the evaluation they just paid for.
            log.warning("could not write FID reference cache %s: %s", path, e)
    stats.meta["cache_path"] = str(path)
    return stats
