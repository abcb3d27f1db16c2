"""Sample-quality metrics. Metrics never import models: they take uint8 images and datasets."""

from imagegen.metrics.evaluate import SUPPORTED_METRICS, evaluate
from imagegen.metrics.fid import FeatureStats, frechet_distance
from imagegen.metrics.inception import (
    DEFAULT_WEIGHTS_SHA256,
    RESIZE_MODES,
    InceptionFeatures,
    default_weights_path,
)
from imagegen.metrics.reference import cache_root, reference_stats

__all__ = [
    "DEFAULT_WEIGHTS_SHA256",
    "RESIZE_MODES",
    "SUPPORTED_METRICS",
    "FeatureStats",
    "InceptionFeatures",
    "cache_root",
    "default_weights_path",
    "evaluate",
    "frechet_distance",
    "reference_stats",
]
