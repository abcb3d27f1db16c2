import torch

from imagegen.data.base import DataSpec
from imagegen.models import create_model
from tests.conftest import TINY


def test_add_noise_matches_closed_form():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0)
    sched = model.noise_scheduler
    betas = torch.linspace(
        1e-4, 0.02, 100, dtype=torch.float64
    )  # diffusers' linear schedule, T=100
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert torch.allclose(sched.alphas_cumprod.double(), alpha_bar, atol=1e-6)
    x0 = torch.rand(2, 1, 8, 8) * 2 - 1
    eps = torch.randn(2, 1, 8, 8)
    t = torch.tensor([3, 77])
    x_t = sched.add_noise(x0, eps, t)
    ab = alpha_bar[t].float().view(-1, 1, 1, 1)
    assert torch.allclose(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * eps, atol=1e-5)
    # analytic x_0 recovery from the true noise
    assert torch.allclose((x_t - (1 - ab).sqrt() * eps) / ab.sqrt(), x0, atol=1e-4)


def test_ddim_is_deterministic_and_ddpm_depends_on_noise():
    model = create_model("ddpm", DataSpec("t", 1, 8, 0), TINY["ddpm"], seed=0).eval()
    a = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddim", steps=4)
    b = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddim", steps=4)
    assert torch.equal(a, b)
    c = model.sample(2, generator=torch.Generator().manual_seed(5), sampler="ddpm", steps=4)
    assert c.shape == a.shape and not torch.equal(a, c)
