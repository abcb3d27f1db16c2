"""The KL autoencoder (latent diffusion's first stage): spatial latents, its loss, the adversarial
decoder, and that it actually learns to reconstruct."""

import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.errors import ConfigError
from imagegen.models import create_model
from imagegen.models.vae import equivariance as eq
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
    terms, h, _ = model._terms(batch.x, None, torch.Generator().manual_seed(0))
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


def test_equivariance_transform_rotates_and_downscales_latent_and_image_alike():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(eq.Transform(1, 4)(x), torch.rot90(x, 1, dims=(-2, -1)))
    torch.testing.assert_close(eq.Transform(2, 2)(x, 2), torch.rot90(x, 2, dims=(-2, -1)))
    half = eq.Transform(0, 2)(x)  # 2x2 cells: each the mean of a 2x2 block
    torch.testing.assert_close(half, torch.nn.functional.avg_pool2d(x, 2))
    assert eq.Transform(0, 3)(torch.zeros(2, 4, 4, 4), 8).shape == (2, 4, 24, 24)
    g = torch.Generator().manual_seed(0)
    drawn = [eq.draw(g, 0.5, 8) for _ in range(400)]
    taus = [t for t in drawn if t is not None]
    assert 150 < len(taus) < 250
    assert {t.quarter_turns for t in taus} == {0, 1, 2, 3}
    assert {t.side for t in taus if t.quarter_turns == 0} == {4, 5, 6, 7}
    assert all(t.side == 8 for t in taus if t.quarter_turns)
    assert eq.draw(g, 0.0, 8) is None and eq.draw(g, 1.0, 8) is not None


def test_equivariance_step_decodes_the_transformed_latent_against_the_transformed_image():
    ds = halves_dataset()
    cfg = {**TINY["klvae"], "beta": 0.3, "equivariance": 1.0}
    model = create_model("klvae", ds.spec, cfg, seed=0).train()
    batch = ds.batch(np.arange(8))
    g = torch.Generator().manual_seed(1)
    out = model.loss("main", batch, g)
    g = torch.Generator().manual_seed(1)
    tau = eq.draw(g, 1.0, model.latent_shape[-1])
    terms, h, target = model._terms(batch.x, None, g, tau)
    torch.testing.assert_close(target, tau(batch.x, 8 // model.latent_shape[-1]))
    mu, logvar = model.posterior(batch.x)
    torch.testing.assert_close(terms["kl"], kl_diag_gaussian(mu, logvar))
    torch.testing.assert_close(terms["rec"], lik.nll("gaussian", h, target, 0.2))
    want = terms["rec"].mean() / target[0].numel() + 0.3 * terms["kl"].mean() / batch.x[0].numel()
    torch.testing.assert_close(out.loss, want)
    # evaluation (no grad) never transforms
    with torch.no_grad():
        plain = model.loss("main", batch, torch.Generator().manual_seed(1))
    ref, _, _ = model._terms(batch.x, None, torch.Generator().manual_seed(1))
    torch.testing.assert_close(plain.logs["loss/rec"], ref["rec"].mean())


def test_equivariance_training_makes_the_decoder_follow_a_rotated_latent():
    ds = halves_dataset(n=32)
    batch = ds.batch(np.arange(32))

    def trained(p: float) -> float:
        model = create_model("klvae", ds.spec, {**TINY["klvae"], "equivariance": p}, seed=0)
        opt = torch.optim.Adam(model.param_groups()["main"], lr=3e-3)
        g = torch.Generator().manual_seed(0)
        for _ in range(80):
            opt.zero_grad()
            model.loss("main", batch, g).loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            turned = model.decode(torch.rot90(model.encode(batch.x), 1, dims=(-2, -1)))
        return float((turned - torch.rot90(batch.x, 1, dims=(-2, -1))).pow(2).mean())

    assert trained(0.5) < 0.5 * trained(0.0)
