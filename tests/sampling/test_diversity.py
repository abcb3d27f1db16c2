import json
import logging

import numpy as np
import pytest

from imagegen.models import create_model
from imagegen.sampling.diversity import diversity_ratio, pairwise_distance
from imagegen.training import train
from tests.conftest import TINY, halves_dataset


def test_pairwise_distance_is_the_mean_rms_pixel_distance():
    a = np.zeros((3, 2, 2, 1), dtype=np.uint8)
    a[1] = 255  # d(0,1) = 1, d(0,2) = 0, d(1,2) = 1
    assert pairwise_distance(a) == pytest.approx(2 / 3)
    assert diversity_ratio(a[[0, 0, 2]], a) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_distance(a[:1])


def test_training_logs_sample_diversity_and_warns_on_a_collapse(tmp_path, caplog, monkeypatch):
    ds = halves_dataset()
    model = create_model("dcgan", ds.spec, TINY["dcgan"], seed=0)
    run = train(
        model,
        ds,
        tmp_path / "ok",
        steps=2,
        batch_size=8,
        sample_every=1,
        ckpt_every=0,
        log_every=1,
        grid_size=8,
    )
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    ratios = [r["samples/diversity"] for r in recs if "samples/diversity" in r]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)

    import imagegen.training.trainer as trainer_module

    def collapsed(model, n, **kw):  # every sample the same image
        return np.repeat(ds.images[:1], n, axis=0)

    monkeypatch.setattr(trainer_module, "generate", collapsed)
    with caplog.at_level(logging.WARNING):
        train(
            create_model("dcgan", ds.spec, TINY["dcgan"], seed=0),
            ds,
            tmp_path / "bad",
            steps=1,
            batch_size=8,
            sample_every=1,
            ckpt_every=0,
            log_every=1,
            grid_size=8,
        )
    assert "collapsed" in caplog.text and "0% as varied" in caplog.text
