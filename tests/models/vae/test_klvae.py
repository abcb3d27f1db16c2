"""The KL autoencoder (latent diffusion's first stage): spatial latents, its loss, the adversarial
decoder, and that it actually learns to reconstruct."""

import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.vae import likelihood as lik
from imagegen.models.vae.latent import kl_diag_gaussian
from tests.conftest import TINY, halves_dataset


def test_latents_are_maps_at_a_quarter_of_the_resolution():
    spec = DataSpec("t", 1, 28, 0)
    model = create_model("klvae", spec, TINY["klvae"], seed=0).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    z = model.encode(x)
    assert model.latent_shape == (2, 7, 7) == tuple(z.shape[1:])
    assert model.decode(z).shape == (3, 1, 28, 28)
    mu, logvar = model.posterior(x)
    torch.testing.assert_close(mu, z)
    assert logvar.shape == mu.shape


def test_loss_is_the_per_dimension_rec_plus_beta_kl():
    ds = halves_dataset()
    cfg = {**TINY["klvae"], "beta": 0.3}
    model = create_model("klvae", ds.spec, cfg, seed=0)
    batch = ds.batch(np.arange(8))
    out = model.loss("main", batch, torch.Generator().manual_seed(0))
    # the same posterior sample: rebuild the loss from q(z|x) and p(x|z) by hand
    terms, h = model._terms(batch.x, None, torch.Generator().manual_seed(0))
    mu, logvar = model.posterior(batch.x)
    torch.testing.assert_close(terms["kl"], kl_diag_gaussian(mu, logvar))
    torch.testing.assert_close(terms["rec"], lik.nll("gaussian", h, batch.x, 0.2))
    dims = batch.x[0].numel()
    want = (terms["rec"].mean() + 0.3 * terms["kl"].mean()) / dims
    torch.testing.assert_close(out.loss, want)


def test_conditional_prior_pulls_kl_towards_the_class_mean():
    ds = halves_dataset()
    model = create_model("klvae", ds.spec, TINY["klvae"], conditional=True, seed=0)
    batch = ds.batch(np.arange(8))
    mu, _ = model.posterior(batch.x)
    with torch.no_grad():
        model.class_means.copy_(torch.stack([mu[batch.y == k].mean(0) for k in (0, 1)]))
    g = torch.Generator().manual_seed(0)
    near = model.elbo_terms(batch.x, batch.y, g)["kl"]
    far = model.elbo_terms(batch.x, 1 - batch.y, torch.Generator().manual_seed(0))["kl"]
    assert (near < far).all()


def test_adversarial_decoder_starts_at_adv_start_and_d_step_trains_only_d():
    ds = halves_dataset()
    cfg = {**TINY["klvae"], "adversarial": 0.5, "adv_start": 0.25}
    model = create_model("klvae", ds.spec, cfg, seed=0).train()
    assert [(p.name, p.group, p.start) for p in model.phases()] == [
        ("main", "main", 0.0),
        ("D", "disc", 0.25),
    ]
    batch = ds.batch(np.arange(16))
    g = torch.Generator().manual_seed(0)
    model.begin_step(0, 0.1)
    assert "adv/lambda" not in model.loss("main", batch, g).logs
    model.begin_step(3, 0.5)
    out = model.loss("main", batch, g)
    assert float(out.logs["adv/lambda"]) > 0
    out.loss.backward()
    w = model.net.decoder.conv_out.weight
    with_gan = w.grad.clone()
    model.zero_grad()
    model.begin_step(4, 0.1)
    model.loss("main", batch, g).loss.backward()
    assert not torch.allclose(w.grad, with_gan)
    model.zero_grad()
    model.begin_step(5, 0.5)
    model.loss("main", batch, g)
    d = model.loss("D", batch, g)  # reuses this step's reconstructions
    d.loss.backward()
    assert all(p.grad is None for p in model.net.parameters())
    assert all(p.grad is not None for p in model.disc.parameters())


def test_group_norm_that_does_not_divide_the_channels_is_refused():
    with pytest.raises(ConfigError, match="norm_groups"):
        create_model("klvae", DataSpec("t", 1, 28, 0), {**TINY["klvae"], "norm_groups": 12})


def test_it_learns_to_reconstruct():
    ds = halves_dataset(n=32)
    model = create_model("klvae", ds.spec, TINY["klvae"], seed=0)
    opt = torch.optim.Adam(model.param_groups()["main"], lr=3e-3)
    batch = ds.batch(np.arange(32))
    g = torch.Generator().manual_seed(0)

    def error() -> float:
        return float((model.reconstruct(batch.x) - batch.x).pow(2).mean())

    before = error()
    for _ in range(60):
        opt.zero_grad()
        model.loss("main", batch, g).loss.backward()
        opt.step()
    assert error() < 0.1 * before
