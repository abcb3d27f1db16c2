import pytest
import torch

from imagegen.models.gan.losses import d_loss, g_loss, gradient_penalty, r1_penalty


def test_losses_match_definitions():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    assert torch.allclose(d_loss("ns", real, fake), sp(-real).mean() + sp(fake).mean())
    assert torch.allclose(d_loss("hinge", real, fake), torch.tensor((0 + 2 + 1.5 + 0) / 2))
    assert torch.allclose(
        d_loss("lsgan", real, fake), 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    )
    assert torch.allclose(d_loss("wasserstein", real, fake), torch.tensor((0.5 - 3) / 2 - 0.5))
    assert torch.allclose(g_loss("ns", fake), sp(-fake).mean())
    assert torch.allclose(g_loss("hinge", fake), -fake.mean())
    assert torch.allclose(g_loss("wasserstein", fake), -fake.mean())
    assert torch.allclose(g_loss("lsgan", fake), 0.5 * ((fake - 1) ** 2).mean())
    with pytest.raises(ValueError, match="wasserstein"):
        d_loss("wgan", real, fake)


def _toy_critic():
    """A smooth nonlinear critic D(x) = sum(tanh(W x)) on 2x2 one-channel images."""
    w = torch.tensor([[0.3, -1.2, 0.7, 2.0], [1.5, 0.4, -0.8, 0.1]], dtype=torch.float64)
    return lambda x: torch.tanh(x.flatten(1) @ w.T).sum(1)


def test_gradient_penalty_matches_finite_differences_at_the_same_interpolates():
    critic = _toy_critic()
    torch.manual_seed(0)
    real = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    fake = torch.randn(3, 1, 2, 2, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(5))
    eps = torch.rand((3, 1, 1, 1), generator=torch.Generator().manual_seed(5)).double()
    x_hat = eps * real + (1 - eps) * fake
    h = 1e-6
    for i in range(3):  # central differences of D at x_hat_i, one pixel at a time
        grad = torch.zeros(4, dtype=torch.float64)
        for j in range(4):
            d = torch.zeros(1, 4, dtype=torch.float64)
            d[0, j] = h
            xp = x_hat[i : i + 1] + d.view(1, 1, 2, 2)
            xm = x_hat[i : i + 1] - d.view(1, 1, 2, 2)
            grad[j] = (critic(xp) - critic(xm)).item() / (2 * h)
        assert gp[i].item() == pytest.approx((grad.norm().item() - 1) ** 2, rel=1e-6)


def test_penalties_train_the_critic():
    w = torch.nn.Parameter(torch.tensor([[0.5, -0.2, 0.1, 0.9]]))

    def critic(x):
        return torch.tanh(x.flatten(1) @ w.T).squeeze(1) * 3.0

    real = torch.randn(4, 1, 2, 2)
    gradient_penalty(critic, real, torch.randn(4, 1, 2, 2), torch.Generator()).sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    w.grad = None
    x = real.clone().requires_grad_(True)
    r1 = r1_penalty(critic(x), x)
    # D = 3 tanh(w.x): grad_x = 3 (1 - tanh^2) w, so ||grad||^2 = 9 (1 - tanh^2)^2 ||w||^2
    t = torch.tanh(real.flatten(1) @ w.detach().T).squeeze(1)
    torch.testing.assert_close(r1.detach(), 9 * (1 - t**2) ** 2 * w.detach().pow(2).sum())
    r1.sum().backward()
    assert w.grad.abs().sum() > 0
