"""Inception Score against a direct computation written here."""

import numpy as np
import pytest

from imagegen.errors import ImagegenError
from imagegen.metrics.inception_score import inception_score


def _is_brute(logits, splits):
    scores = []
    for part in np.array_split(logits, splits):
        p = np.exp(part - part.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        py = p.mean(0)
        kl = [sum(pi[j] * (np.log(pi[j]) - np.log(py[j])) for j in range(len(py))) for pi in p]
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores)


def test_matches_a_direct_computation_with_uneven_splits():
    logits = np.random.default_rng(0).normal(0, 3, size=(53, 7))
    assert inception_score(logits, splits=10) == pytest.approx(_is_brute(logits, 10), rel=1e-9)


def test_confident_and_diverse_predictions_reach_the_number_of_classes():
    k = 5
    logits = np.full((100, k), -50.0)
    logits[np.arange(100), np.arange(100) % k] = 50.0  # one-hot, all classes equally often
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(k, rel=1e-6) and std < 1e-6
    same_class = np.zeros((100, k))
    same_class[:, 0] = 50.0
    assert inception_score(same_class, splits=4)[0] == pytest.approx(1.0, abs=1e-6)


def test_too_few_images_for_the_splits():
    with pytest.raises(ImagegenError, match="splits"):
        inception_score(np.zeros((5, 3)), splits=10)
