"""The conditional-accuracy classifier: it learns, it is cached, a changed dataset retrains it."""

import numpy as np
import pytest

from imagegen.data import load_dataset
from imagegen.errors import ImagegenError
from imagegen.metrics.classifier import (
    SmallCNN,
    classifier_cache_root,
    conditional_accuracy,
    dataset_classifier,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits"), load_dataset("digits", "test")


def test_learns_digits_and_is_cached(tmp_path, digits):
    train, test = digits
    clf = dataset_classifier(train, test, steps=150, cache_dir=tmp_path)
    assert clf.test_accuracy > 0.85
    files = sorted(p.suffix for p in classifier_cache_root(tmp_path).iterdir())
    assert files == [".json", ".safetensors"]
    again = dataset_classifier(train, test, steps=150, cache_dir=tmp_path)
    assert again.test_accuracy == clf.test_accuracy
    np.testing.assert_array_equal(again.predict(test.images), clf.predict(test.images))
    # Conditional accuracy of the real test images with their true labels is the test accuracy.
    assert conditional_accuracy(again, test.images, test.labels) == pytest.approx(clf.test_accuracy)


def test_changed_data_or_corrupt_cache_retrains(tmp_path, digits):
    train, test = digits
    dataset_classifier(train, test, steps=20, cache_dir=tmp_path)
    (weights,) = classifier_cache_root(tmp_path).glob("*.safetensors")
    weights.write_bytes(b"not safetensors")
    clf = dataset_classifier(train, test, steps=20, cache_dir=tmp_path)  # no crash, retrained
    assert 0 <= clf.test_accuracy <= 1
    dataset_classifier(train.subset(500), test, steps=20, cache_dir=tmp_path)
    assert len(list(classifier_cache_root(tmp_path).glob("*.safetensors"))) == 2


def test_unlabelled_data_and_label_count_errors(tmp_path, digits):
    train, test = digits
    unlabelled = train.subset(100)
    unlabelled.labels = None
    with pytest.raises(ImagegenError, match="labels"):
        dataset_classifier(unlabelled, test, steps=5, cache_dir=tmp_path)
    clf = dataset_classifier(train, test, steps=5, cache_dir=tmp_path)
    with pytest.raises(ImagegenError, match="labels"):
        conditional_accuracy(clf, test.images[:4], np.zeros(3))


@pytest.mark.parametrize("res,ch", [(8, 1), (28, 1), (32, 3)])
def test_network_fits_every_builtin_resolution(res, ch):
    import torch

    net = SmallCNN(ch, res, 10)
    assert net(torch.zeros(2, ch, res, res)).shape == (2, 10)
