import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.sampling import generate
from imagegen.training import train
from tests.conftest import TINY, halves_dataset


def test_samples_show_the_class_they_were_asked_for(tmp_path):
    ds = halves_dataset()
    model = create_model("cvae", ds.spec, {**TINY["cvae"], "lr": 3e-3}, seed=0)
    # the class prior p(z|y) moves away from N(0, I) slowly: the labels rule the samples only
    # after several hundred steps
    train(
        model,
        ds,
        tmp_path / "r",
        steps=800,
        batch_size=16,
        sample_every=0,
        log_every=400,
        ckpt_every=0,
    )
    x = generate(model, 16, seed=0, labels=[0] * 8 + [1] * 8)[..., 0].astype(float) / 255
    top_minus_bottom = x[:, :4].mean((1, 2)) - x[:, 4:].mean((1, 2))
    assert (top_minus_bottom[:8] > 0.5).all()  # class 0: top half white
    assert (top_minus_bottom[8:] < -0.5).all()  # class 1: bottom half white


def test_the_class_prior_is_learned_and_enters_the_kl():
    spec = DataSpec("t", 1, 8, 3)
    model = create_model("cvae", spec, TINY["cvae"], seed=0)
    with torch.no_grad():
        model.prior_net.weight[1, 0] = 2.0  # class 1: mu_p[0] = 2
    mu = torch.zeros(2, 4)
    logvar = torch.zeros(2, 4)
    kl = model.kl_per_dim(mu, logvar, torch.tensor([0, 1])).detach()
    assert float(kl[0].sum()) == pytest.approx(0.0)
    assert float(kl[1, 0]) == pytest.approx(0.5 * 2.0**2)  # (mu_q - mu_p)^2 / 2


def test_cvae_refuses_unlabelled_data_and_conditional_false():
    with pytest.raises(ConfigError, match="labelled dataset"):
        create_model("cvae", DataSpec("t", 1, 8, 0), TINY["cvae"])
    with pytest.raises(ConfigError, match="needs labels"):
        create_model("cvae", DataSpec("t", 1, 8, 3), {**TINY["cvae"], "conditional": False})


def test_cvae_samples_differ_by_label_for_the_same_noise():
    spec = DataSpec("t", 1, 8, 3)
    model = create_model("cvae", spec, TINY["cvae"], seed=0)
    a = generate(model, 4, seed=0, labels=0)
    b = generate(model, 4, seed=0, labels=2)
    assert not np.array_equal(a, b)
