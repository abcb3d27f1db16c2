import math

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
