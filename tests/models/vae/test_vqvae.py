import numpy as np
import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.models import create_model
from imagegen.models.vae.adversarial_decoder import adaptive_weight
from imagegen.models.vae.code_prior import CodePrior
from tests.conftest import TINY, halves_dataset


def test_prior_logits_never_depend_on_later_codes():
    torch.manual_seed(0)
    prior = CodePrior(num_codes=8, length=6, dim=16, depth=2, heads=2, num_classes=3)
    codes = torch.randint(0, 8, (2, 6))
    y = torch.tensor([0, 2])
    base = prior(codes, y)
    for t in range(6):
        changed = codes.clone()
        changed[:, t:] = (changed[:, t:] + 3) % 8
        out = prior(changed, y)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1])  # position t sees codes < t
        if t + 1 < 6:
            assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :])


def test_cached_sampling_agrees_with_the_full_forward_pass():
    torch.manual_seed(0)
    prior = CodePrior(num_codes=8, length=5, dim=16, depth=2, heads=2)
    g = torch.Generator().manual_seed(0)
    greedy = prior.sample(3, g, torch.device("cpu"), temperature=1e-6)
    torch.testing.assert_close(prior(greedy).argmax(-1), greedy)
    # per-image generators: image i is the same drawn alone or in a batch
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    batch = prior.sample(3, gens, torch.device("cpu"))
    alone = prior.sample(1, [torch.Generator().manual_seed(1)], torch.device("cpu"))
    torch.testing.assert_close(batch[1:2], alone)


def test_main_phase_trains_encoder_through_the_quantizer_and_prior_phase_only_the_prior():
    ds = halves_dataset()
    model = create_model("vqvae", ds.spec, TINY["vqvae"], seed=0).train()
    batch = ds.batch(np.arange(16))
    g = torch.Generator().manual_seed(0)
    out = model.loss("main", batch, g)
    out.loss.backward()
    # through the straight-through estimator down to the first layer
    assert model.encoder.net[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.prior.parameters())
    assert bool(model.quantizer.initialized)  # the first batch started the codebook
    model.zero_grad()
    model.loss("prior", batch, g).loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.prior.parameters())


def test_elbo_is_reconstruction_plus_prior_code_nats():
    spec = DataSpec("t", 1, 8, 0)
    model = create_model("vqvae", spec, TINY["vqvae"], seed=0).eval()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    r = model.negative_elbo(x, None, torch.Generator().manual_seed(0))
    k = model.codes(x).flatten(1)
    torch.testing.assert_close(r["kl"], model.prior.nll(k))
    assert r["kl"].min() > 0 and torch.isfinite(r["bpd"]).all()


@pytest.mark.parametrize(
    "name,shape", [("vae", (4,)), ("vqvae", (4, 4, 4)), ("hvae", (2 * 2 * 4 * 4,))]
)
def test_encode_decode_is_the_autoencoder_latent_diffusion_uses(name, shape):
    spec = DataSpec("t", 1, 8, 0)
    model = create_model(name, spec, TINY[name], seed=0).eval()
    assert model.latent_shape == shape
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    z = model.encode(x)
    assert z.shape == (3, *shape)
    out = model.decode(z)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1


def test_prior_phase_caches_codes_by_dataset_position_only_while_the_autoencoder_is_frozen():
    ds = halves_dataset()
    model = create_model("vqvae", ds.spec, {**TINY["vqvae"], "ae_stop": 0.5}, seed=0).train()
    g = torch.Generator().manual_seed(0)
    model.loss("main", ds.batch(np.arange(16)), g)  # starts the codebook
    flips = torch.tensor([True, False] * 4)
    batch = ds.batch(np.arange(8), flips)
    fresh = model.codes(batch.x).flatten(1)
    model.begin_step(10, 0.6)  # autoencoder frozen: codes are computed once, then looked up
    torch.testing.assert_close(model._batch_codes(batch), fresh)
    with torch.no_grad():  # a change the cache cannot see proves the lookup
        model.encoder.net[-1].bias.add_(5.0)
    torch.testing.assert_close(model._batch_codes(batch), fresh)
    moved = model.codes(batch.x).flatten(1)
    assert not torch.equal(moved, fresh)
    model.begin_step(11, 0.4)  # autoencoder training again: the cache is dropped
    torch.testing.assert_close(model._batch_codes(batch), moved)
    # the flipped copy of an image has its own entry
    model.begin_step(12, 0.6)
    other = ds.batch(np.arange(8), ~flips)
    torch.testing.assert_close(model._batch_codes(other), model.codes(other.x).flatten(1))


def test_adversarial_decoder_trains_against_a_patch_discriminator_from_adv_start():
    ds = halves_dataset()
    cfg = {**TINY["vqvae"], "adversarial": 0.8, "adv_start": 0.2, "ae_stop": 0.5}
    model = create_model("vqvae", ds.spec, cfg, seed=0).train()
    assert [(p.name, p.group, p.start, p.stop) for p in model.phases()][:2] == [
        ("main", "main", 0.0, 0.5),
        ("D", "disc", 0.2, 0.5),
    ]
    assert set(model.param_groups()) == {"main", "prior", "disc"}
    batch = ds.batch(np.arange(16))
    g = torch.Generator().manual_seed(0)
    model.begin_step(0, 0.1)  # before adv_start: the plain VQ-VAE loss
    assert "adv/lambda" not in model.loss("main", batch, g).logs
    model.begin_step(5, 0.3)
    out = model.loss("main", batch, g)
    lam = float(out.logs["adv/lambda"])
    assert lam > 0 and np.isfinite(lam)
    out.loss.backward()
    # the decoder's gradient includes the GAN term: it differs from the plain loss's gradient
    with_gan = model.decoder.net[-1].weight.grad.clone()
    model.zero_grad()
    model.begin_step(6, 0.1)
    model.loss("main", batch, g).loss.backward()
    assert not torch.allclose(model.decoder.net[-1].weight.grad, with_gan)
    # phase D reuses this step's reconstructions and backpropagates into D only
    model.zero_grad()
    model.begin_step(7, 0.3)
    model.loss("main", batch, g)
    d = model.loss("D", batch, g)
    d.loss.backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert all(p.grad is not None for p in model.disc.parameters())
    assert float(d.logs["loss/D"]) >= 0


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_decoder_layer():
    spec = DataSpec("t", 1, 8, 0)
    model = create_model("vqvae", spec, {**TINY["vqvae"], "adversarial": 1.0}, seed=0)
    w = model.decoder.net[-1].weight
    out = model.decoder(torch.randn(2, 4, 4, 4))
    a, b = out.pow(2).mean(), 3.0 * out.mean()
    ga = torch.autograd.grad(a, w, retain_graph=True)[0].norm()
    gb = torch.autograd.grad(b, w, retain_graph=True)[0].norm()
    torch.testing.assert_close(adaptive_weight(a, b, w), ga / (gb + 1e-4))


def test_adversarial_start_after_the_autoencoder_stops_is_refused():
    spec = DataSpec("t", 1, 8, 0)
    with pytest.raises(Exception, match="adv_start"):
        create_model(
            "vqvae", spec, {**TINY["vqvae"], "adversarial": 1.0, "adv_start": 0.6, "ae_stop": 0.5}
        )
