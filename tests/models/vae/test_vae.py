import math

import pytest
import torch

from imagegen.models.vae.vae import kl_diag_gaussian, reparameterize


def test_kl_matches_closed_form_per_dimension():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[math.log(0.25), math.log(2.0)]])
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2 per dimension
    expected = sum(
        math.log(1 / math.sqrt(v)) + (v + m**2) / 2 - 0.5 for m, v in [(0.5, 0.25), (-1.0, 2.0)]
    )
    assert torch.allclose(kl_diag_gaussian(mu, logvar), torch.tensor([expected]), atol=1e-6)
    assert torch.allclose(kl_diag_gaussian(torch.zeros(1, 3), torch.zeros(1, 3)), torch.zeros(1))


def test_reparameterisation_passes_gradients_to_mu_and_logvar():
    mu = torch.zeros(4, 3, requires_grad=True)
    logvar = torch.zeros(4, 3, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    z.pow(2).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_kl_between_two_gaussians_matches_closed_form_and_reduces_to_standard_prior():
    from imagegen.models.vae.latent import kl_two_gaussians

    mu_q, lv_q = torch.tensor([0.3]), torch.tensor([math.log(0.5)])
    mu_p, lv_p = torch.tensor([-0.2]), torch.tensor([math.log(2.0)])
    # KL = log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2
    expected = math.log(math.sqrt(2.0) / math.sqrt(0.5)) + (0.5 + 0.25) / 4 - 0.5
    assert kl_two_gaussians(mu_q, lv_q, mu_p, lv_p).item() == pytest.approx(expected, abs=1e-6)
    z = torch.zeros(1)
    assert kl_two_gaussians(mu_q, lv_q, z, z).item() == pytest.approx(
        kl_diag_gaussian(mu_q[None], lv_q[None]).item(), abs=1e-6
    )


def test_free_bits_hold_small_dimensions_at_the_floor_without_gradient():
    from imagegen.models.vae.latent import free_bits

    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)
    out = free_bits(kl, 0.5)
    # dim 0 has mean 0.2 < 0.5: held at 0.5; dim 1 keeps its KL
    torch.testing.assert_close(out, torch.tensor([2.5, 4.5]))
    out.sum().backward()
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    torch.testing.assert_close(free_bits(kl, 0.0), kl.sum(1))


def test_kl_warmup_ramps_beta_with_the_budget():
    from imagegen.models.vae.latent import kl_weight

    assert kl_weight(2.0, 0.5, 0.0) == 0.0
    assert kl_weight(2.0, 0.5, 0.25) == pytest.approx(1.0)
    assert kl_weight(2.0, 0.5, 0.9) == 2.0
    assert kl_weight(2.0, 0.0, 0.0) == 2.0


def test_discretized_logistic_is_a_distribution_over_the_256_levels():
    from imagegen.models.vae.likelihood import discretized_logistic_nll

    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1  # every 8-bit value on [-1, 1]
    for mu, log_s in [(0.0, -2.0), (0.7, -4.0), (-1.0, -6.0), (0.2, 0.5)]:
        nll = discretized_logistic_nll(
            levels, torch.full_like(levels, mu), torch.full_like(levels, log_s)
        )
        assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-3)


def test_elbo_bits_per_dim_and_gaussian_discretisation():
    from imagegen.data.base import DataSpec
    from imagegen.models import create_model
    from tests.conftest import TINY

    spec = DataSpec("t", 1, 8, 0)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    for like in ("gaussian", "bernoulli", "logistic"):
        m = create_model("vae", spec, {**TINY["vae"], "likelihood": like}, seed=0).eval()
        r = m.negative_elbo(x, None, torch.Generator().manual_seed(0))
        shift = 64 * math.log(127.5) if like == "gaussian" else 0.0
        torch.testing.assert_close(r["nats"], r["rec"] + r["kl"] + shift)
        torch.testing.assert_close(r["bpd"], r["nats"] / (64 * math.log(2)))


def test_traversal_changes_only_the_swept_dimension():
    from imagegen.data.base import DataSpec
    from imagegen.models import create_model
    from tests.conftest import TINY

    m = create_model("beta_vae", DataSpec("t", 1, 8, 0), TINY["beta_vae"], seed=0).eval()
    x = torch.rand(1, 1, 8, 8) * 2 - 1
    out = m.traverse(x, dims=[0, 2], values=[-2.0, 0.0, 2.0])
    assert out.shape == (2, 3, 1, 8, 8)
    mu = m.encode(x)[0]
    z = mu.clone()
    z[2] = 2.0
    torch.testing.assert_close(out[1, 2], m.decode(z[None])[0])


def test_active_units_counts_dimensions_that_vary_with_the_data():
    from imagegen.models.vae.latent import active_units

    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)
    mu[:, 1] = 0.001 * torch.randn(100)
    assert active_units(mu).tolist() == [True, False, False]


def test_beta_vae_capacity_grows_and_targets_the_kl():
    from imagegen.data.base import DataSpec
    from imagegen.models import create_model
    from tests.conftest import TINY

    m = create_model("beta_vae", DataSpec("t", 1, 8, 0), TINY["beta_vae"], seed=0)
    m.begin_step(0, 0.25)  # half of capacity_until=0.5: C = 2.5 of 5 nats
    assert m.capacity_now == pytest.approx(2.5)
    kl = torch.tensor([[1.0, 0.5], [3.0, 1.0]])
    torch.testing.assert_close(m.training_kl(kl), 4.0 * torch.tensor([1.0, 1.5]))


def test_calibrated_gaussian_sets_sigma_to_the_batch_rms_error():
    from imagegen.data.base import DataSpec
    from imagegen.models import create_model
    from tests.conftest import TINY

    m = create_model("vae", DataSpec("t", 1, 8, 0), {**TINY["vae"], "calibrated": True}, seed=0)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    h = torch.zeros_like(x)
    sigma = m.obs_sigma(h, x)
    assert float(sigma) == pytest.approx(float(x.pow(2).mean().sqrt()), rel=1e-5)
    # the running mean moved 1% of the way from obs_sigma towards it, and evaluation uses it
    assert float(m.sigma_run) == pytest.approx(0.99 * 0.2 + 0.01 * float(sigma), rel=1e-5)
    m.eval()
    assert m.obs_sigma(h, x) is m.sigma_run
