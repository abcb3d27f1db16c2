"""Sample-quality metrics. Metrics never import models: they take uint8 images and datasets."""

from imagegen.metrics.card import card_differences
from imagegen.metrics.classifier import conditional_accuracy, dataset_classifier
from imagegen.metrics.density_coverage import density_coverage
from imagegen.metrics.evaluate import SUPPORTED_METRICS, EvalSettings, evaluate
from imagegen.metrics.fid import FeatureStats, frechet_distance
from imagegen.metrics.inception import (
    DEFAULT_WEIGHTS_SHA256,
    RESIZE_MODES,
    InceptionFeatures,
    default_weights_path,
)
from imagegen.metrics.inception_score import inception_score
from imagegen.metrics.kid import kernel_inception_distance
from imagegen.metrics.memorization import memorization
from imagegen.metrics.precision_recall import precision_recall
from imagegen.metrics.reconstruction import reconstruction_metrics
from imagegen.metrics.reference import cache_root, reference_features, reference_stats

__all__ = [
    "DEFAULT_WEIGHTS_SHA256",
    "RESIZE_MODES",
    "SUPPORTED_METRICS",
    "EvalSettings",
    "FeatureStats",
    "InceptionFeatures",
    "cache_root",
    "card_differences",
    "conditional_accuracy",
    "dataset_classifier",
    "default_weights_path",
    "density_coverage",
    "evaluate",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "memorization",
    "precision_recall",
    "reconstruction_metrics",
    "reference_features",
    "reference_stats",
]
