import json
import logging

import numpy as np
import pytest

from imagegen.data.base import DataSpec, ImageDataset
from imagegen.models import create_model
from imagegen.sampling.diversity import (
    COLLAPSE_RATIO,
    class_diversity_ratio,
    diversity_ratio,
    pairwise_distance,
)
from imagegen.training import train
from tests.conftest import TINY, halves_dataset


def test_pairwise_distance_is_the_mean_rms_pixel_distance():
    a = np.zeros((3, 2, 2, 1), dtype=np.uint8)
    a[1] = 255  # d(0,1) = 1, d(0,2) = 0, d(1,2) = 1
    assert pairwise_distance(a) == pytest.approx(2 / 3)
    assert diversity_ratio(a[[0, 0, 2]], a) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_distance(a[:1])


def test_class_diversity_is_taken_within_each_class():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 4, 4, 1), dtype=np.uint8)
    real_labels = np.arange(40) % 2
    # one image per class, repeated: the classes differ, each class is a single image
    copies = real[[0, 1] * 10]
    labels = np.array([0, 1] * 10)
    assert diversity_ratio(copies, real) > COLLAPSE_RATIO  # the overall check misses it
    assert class_diversity_ratio(copies, labels, real, real_labels) == pytest.approx(0, abs=1e-6)
    # real images of a class against others of that class: about as varied
    assert class_diversity_ratio(real[20:], real_labels[20:], real[:20], real_labels[:20]) == (
        pytest.approx(1.0, abs=0.1)
    )
    # a class with a single sample is skipped; none left -> None
    assert class_diversity_ratio(copies[:2], labels[:2], real, real_labels) is None


def _train_and_log(name, ds, out, steps=1, grid_size=8) -> list[dict]:
    """Train tiny model ``name`` with a sample grid every step; its metrics.jsonl records."""
    model = create_model(name, ds.spec, TINY[name], seed=0)
    kw = {"batch_size": 8, "sample_every": 1, "ckpt_every": 0, "log_every": 1}
    run = train(model, ds, out, steps=steps, grid_size=grid_size, **kw)
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_logs_sample_diversity_and_warns_on_a_collapse(tmp_path, caplog, monkeypatch):
    ds = halves_dataset()
    recs = _train_and_log("dcgan", ds, tmp_path / "ok", steps=2)
    ratios = [r["samples/diversity"] for r in recs if "samples/diversity" in r]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)

    import imagegen.training.trainer as trainer_module

    def collapsed(model, n, **kw):  # every sample the same image
        return np.repeat(ds.images[:1], n, axis=0)

    monkeypatch.setattr(trainer_module, "generate", collapsed)
    with caplog.at_level(logging.WARNING):
        _train_and_log("dcgan", ds, tmp_path / "bad")
    assert "collapsed" in caplog.text and "0% as varied" in caplog.text


def test_a_conditional_model_collapsed_within_its_classes_is_flagged(tmp_path, caplog, monkeypatch):
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    ds = ImageDataset(
        images=rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8),
        spec=DataSpec("noise", 1, 8, 2, ("a", "b")),
        labels=labels,
    )
    import imagegen.training.trainer as trainer_module

    def one_per_class(model, n, **kw):  # sample i shows the first real image of class i % 2
        return ds.images[np.arange(n) % 2]

    monkeypatch.setattr(trainer_module, "generate", one_per_class)
    with caplog.at_level(logging.WARNING):
        recs = _train_and_log("cgan", ds, tmp_path / "cls", grid_size=16)
    rec = next(r for r in recs if "samples/class_diversity" in r)
    assert rec["samples/diversity"] > COLLAPSE_RATIO and rec["samples/class_diversity"] < 1e-6
    assert "0% as varied within a class" in caplog.text
