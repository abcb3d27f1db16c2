import pytest
import torch

from imagegen.data.base import DataSpec
from imagegen.models import create_model
from imagegen.models.vae.latent import kl_two_gaussians
from tests.conftest import TINY


def _model(**kw):
    return create_model(
        "hvae", DataSpec("t", 1, 28, 0), {**TINY["hvae"], "scales": 2, **kw}, seed=0
    )


def test_latent_groups_sit_at_two_scales_top_first():
    m = _model()
    assert m.sides == [7, 7, 14, 14]
    feats = m.bottom_up(torch.zeros(2, 1, 28, 28))
    assert [f.shape[-1] for f in feats] == [7, 7, 14, 14]


def test_kl_of_each_group_is_the_closed_form_between_posterior_and_prior():
    m = _model()
    with torch.no_grad():  # give the heads weights so posterior and prior differ
        for head in (*m.prior_heads, *m.post_heads):
            head[-1].weight.normal_(0, 0.1)
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    feats = m.bottom_up(x)
    g = torch.Generator().manual_seed(0)
    _, zs, kls = m.top_down(2, None, feats, generator=g)
    # recompute group 0 by hand: prior from h0, posterior = prior + offsets, each soft-clamped
    # (b tanh(x / b): means within 5, log-stds within 3)
    h = m._h0(2, None)
    mu_p, lv_p = m.prior_heads[0](h).chunk(2, 1)
    d_mu, d_lv = m.post_heads[0](torch.cat([h, feats[0]], 1)).chunk(2, 1)
    mu_p, lv_p = 5 * torch.tanh(mu_p / 5), 6 * torch.tanh(lv_p / 6)
    d_mu, d_lv = 5 * torch.tanh(d_mu / 5), 6 * torch.tanh(d_lv / 6)
    expected = kl_two_gaussians(mu_p + d_mu, lv_p + d_lv, mu_p, lv_p).flatten(1).sum(1)
    torch.testing.assert_close(kls[0], expected)
    assert all(k.min() > 0 for k in kls)


def test_soft_clamps_bound_prior_and_posterior_parameters():
    from imagegen.models.vae.hvae import soft_clamp

    x = torch.tensor([-1e6, -3.0, 0.0, 0.01, 1e6])
    y = soft_clamp(x, 3.0)
    assert y.abs().max() <= 3.0 and y[2] == 0 and abs(y[3] - 0.01) < 1e-6
    m = _model()
    with torch.no_grad():  # huge head outputs: the KL must stay finite and bounded
        for head in (*m.prior_heads, *m.post_heads):
            head[-1].bias.fill_(50.0)
    _, _, kls = m.top_down(
        2, None, m.bottom_up(torch.zeros(2, 1, 28, 28)), generator=torch.Generator().manual_seed(0)
    )
    dims = [k.numel() for k in kls]
    assert all(torch.isfinite(k).all() for k in kls) and len(dims) == 4


def test_kl_balancing_weights_groups_by_their_kl_during_warmup_only():
    m = _model(kl_warmup=0.5)
    from imagegen.data.base import Batch

    batch = Batch(torch.rand(4, 1, 28, 28) * 2 - 1, None)
    m.begin_step(0, 0.25)
    assert m.kl_beta == pytest.approx(0.5)
    out = m.loss("main", batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss)
    assert {f"kl/group{i}" for i in range(4)} <= set(out.logs)
    m.begin_step(0, 0.9)
    assert m.kl_beta == 1.0


def test_decoding_the_encoded_means_reconstructs_through_every_group():
    m = _model().eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    z = m.encode(x)
    assert z.shape == (3, 2 * (2 * 7 * 7 + 2 * 14 * 14))
    torch.testing.assert_close(m.decode(z), m.reconstruct(x))
