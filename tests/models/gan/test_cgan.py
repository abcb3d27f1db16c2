import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.sampling import generate
from imagegen.training import train
from tests.conftest import TINY, halves_dataset


def test_projection_discriminator_adds_the_label_embedding_inner_product():
    spec = DataSpec("t", 1, 8, 3)
    model = create_model("cgan", spec, TINY["cgan"], seed=0).eval()
    x = torch.randn(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 1])
    phi = model.D.features(x)
    expected = model.D.psi(phi).squeeze(1) + (model.D.embed(y) * phi).sum(1)
    torch.testing.assert_close(model.D(x, y), expected)
    assert not torch.allclose(model.D(x, y), model.D(x, (y + 1) % 3))


def test_acgan_head_trains_d_on_real_and_fake_labels_and_g_on_its_own():
    ds = halves_dataset()
    model = create_model("cgan", ds.spec, TINY["cgan"], seed=0)
    batch = ds.batch(np.arange(16))
    out = model.loss("D", batch, torch.Generator().manual_seed(0))
    assert out.logs["loss/D_cls"] > 0
    out.loss.backward()
    assert model.D.aux.parametrizations.weight.original.grad.abs().sum() > 0
    model.zero_grad()
    out = model.loss("G", batch, torch.Generator().manual_seed(0))
    assert out.logs["loss/G_cls"] > 0
    out.loss.backward()
    assert model.G.embed.weight.grad.abs().sum() > 0
    plain = create_model("cgan", ds.spec, {**TINY["cgan"], "aux_weight": 0.0}, seed=0)
    assert plain.D.aux is None
    assert "loss/D_cls" not in plain.loss("D", batch, torch.Generator()).logs


def test_label_blind_configurations_are_refused():
    spec = DataSpec("t", 1, 8, 3)
    with pytest.raises(ConfigError, match="projection=true or aux_weight"):
        create_model("cgan", spec, {**TINY["cgan"], "projection": False, "aux_weight": 0.0})
    with pytest.raises(ConfigError, match="needs labels"):
        create_model("cgan", spec, {**TINY["cgan"], "conditional": False})


def test_samples_show_the_class_they_were_asked_for(tmp_path):
    ds = halves_dataset()
    model = create_model("cgan", ds.spec, {**TINY["cgan"], "lr_g": 1e-3, "lr_d": 1e-3}, seed=0)
    train(
        model,
        ds,
        tmp_path / "r",
        steps=300,
        batch_size=16,
        ema_decay=0.0,
        sample_every=0,
        log_every=100,
        ckpt_every=0,
    )
    x = generate(model, 16, seed=0, labels=[0] * 8 + [1] * 8)[..., 0].astype(float) / 255
    top_minus_bottom = x[:, :4].mean((1, 2)) - x[:, 4:].mean((1, 2))
    assert (top_minus_bottom[:8] > 0.5).all()  # class 0: top half white
    assert (top_minus_bottom[8:] < -0.5).all()  # class 1: bottom half white
