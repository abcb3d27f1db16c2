"""Classifier-free guidance: label dropout in training, f_w = f_∅ + w (f_y - f_∅) at sampling."""

from __future__ import annotations

import pytest
import torch

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from tests.conftest import TINY
from tests.models.diffusion.spies import record_labels

SPEC = DataSpec("t", 1, 8, 3)
CFG = {**TINY["ddpm"], "conditional": True, "label_dropout": 0.2}


def _model(**over):
    return create_model("ddpm", SPEC, {**CFG, **over}, seed=0).eval()


def test_guidance_scale_one_is_the_conditional_model_and_w_mixes_linearly():
    model = _model()
    x_t, t, y = torch.randn(4, 1, 8, 8), torch.tensor([3, 50, 99, 10]), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        f_y = model.predict(x_t, t, y)
        f_null = model.predict(x_t, t, model.null_labels(4, y.device))
        assert torch.equal(model.guided(x_t, t, y, 1.0), f_y)
        torch.testing.assert_close(model.guided(x_t, t, y, 0.0), f_null, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            model.guided(x_t, t, y, 3.0), f_null + 3.0 * (f_y - f_null), atol=1e-5, rtol=1e-5
        )
    assert not torch.allclose(f_y, f_null)  # the null class is a class of its own


def test_label_dropout_feeds_the_null_class_at_its_rate():
    model = _model(label_dropout=0.3).train()
    seen = record_labels(model)
    n = 600
    y = torch.arange(n) % 3
    batch = Batch(x=torch.rand(n, 1, 8, 8) * 2 - 1, y=y)
    model.loss("main", batch, torch.Generator().manual_seed(0))
    used = seen[0]
    null = used == SPEC.num_classes
    assert 0.24 < null.float().mean() < 0.36
    assert torch.equal(used[~null], y[~null])  # the others keep their own label


def test_guidance_needs_a_model_trained_with_label_dropout():
    plain = create_model("ddpm", SPEC, {**TINY["ddpm"], "conditional": True}, seed=0).eval()
    assert plain.sample_options()["guide"] is None  # guidance needs dropout or a guide
    assert plain.unet.class_embedding.num_embeddings == 3  # no null class without dropout
    with pytest.raises(ConfigError, match="label dropout"):
        plain.sample(2, generator=torch.Generator(), labels=torch.tensor([0, 1]), guidance=3.0)
    with pytest.raises(ConfigError, match="conditional"):
        create_model("ddpm", SPEC, {**TINY["ddpm"], "label_dropout": 0.1}, seed=0)
    model = _model()
    assert model.sample_options()["guidance"] == 1.0
    assert model.unet.class_embedding.num_embeddings == 4


def test_guided_sampling_is_deterministic_and_changes_the_samples():
    model = _model()
    y = torch.tensor([0, 2])

    def draw(w):
        return model.sample(2, generator=torch.Generator().manual_seed(1), labels=y, guidance=w)

    assert torch.equal(draw(4.0), draw(4.0))
    assert not torch.allclose(draw(4.0), draw(1.0))


def test_guidance_interval_guides_only_the_steps_whose_sigma_lies_in_it():
    model = _model()
    y = torch.tensor([0, 2])
    sigma = model.log_sigma.exp()
    inside = (float(sigma[40]), float(sigma[60]))  # (sigma_40, sigma_60] holds t = 50
    fn = model.model_fn(2, y, 4.0, guidance_interval=inside)
    x_t = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        for t, w in ((50, 4.0), (60, 4.0), (40, 1.0), (10, 1.0), (99, 1.0)):
            want = model.guided(x_t, torch.tensor([t, t]), y, w)
            torch.testing.assert_close(fn(x_t, torch.tensor(t)), want, atol=1e-6, rtol=1e-6)

    def draw(**options):
        return model.sample(2, generator=torch.Generator().manual_seed(1), labels=y, **options)

    everywhere = (0.0, float(sigma[-1]) + 1.0)
    assert torch.equal(draw(guidance=4.0, guidance_interval=everywhere), draw(guidance=4.0))
    nowhere = (0.0, float(sigma[0]) / 2)
    assert torch.equal(draw(guidance=4.0, guidance_interval=nowhere), draw(guidance=1.0))
    # the config's interval is the default; an empty one guides every step
    banded = _model(guidance_interval=[0.0, float(sigma[0]) / 2])
    banded.load_state_dict(model.state_dict())
    assert torch.equal(
        banded.sample(2, generator=torch.Generator().manual_seed(1), labels=y, guidance=4.0),
        draw(guidance=1.0),
    )
    assert torch.equal(
        banded.sample(
            2, generator=torch.Generator().manual_seed(1), labels=y, guidance=4.0,
            guidance_interval=[],
        ),
        draw(guidance=4.0),
    )  # fmt: skip
    for bad in ([1.0], [2.0, 1.0], [-1.0, 1.0]):
        with pytest.raises(ConfigError, match="guidance_interval"):
            draw(guidance=4.0, guidance_interval=bad)
    with pytest.raises(ConfigError, match="guidance_interval"):
        _model(guidance_interval=[5.0, 0.5])
