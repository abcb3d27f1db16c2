"""GAN objectives and discriminator regularisers, shared by every GAN.

Logits are raw discriminator (critic) outputs, shape (B,). The "wasserstein" loss is the critic
objective of WGAN (Arjovsky et al. 2017), used with :func:`gradient_penalty` (WGAN-GP, Gulrajani
et al. 2017); :func:`r1_penalty` is the zero-centred penalty on real data (Mescheder et al. 2018)
that StyleGAN uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from imagegen.seeding import Generators, rand

GANLoss = Literal["ns", "hinge", "lsgan", "wasserstein"]
GAN_LOSSES: tuple[str, ...] = ("ns", "hinge", "lsgan", "wasserstein")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss (scalar) from real and fake logits (B,)."""
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "wasserstein":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}: choose one of {', '.join(GAN_LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss (scalar) from fake logits (B,)."""
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ValueError(f"unknown GAN loss {kind!r}: choose one of {', '.join(GAN_LOSSES)}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: Generators,
) -> torch.Tensor:
    """WGAN-GP penalty (||grad_x D(x_hat)||_2 - 1)^2 per image, (B,).

    x_hat = eps * x + (1 - eps) * x_tilde with eps ~ U[0, 1] per image (Algorithm 1 of Gulrajani
    et al. 2017). The graph is kept (create_graph) so the penalty trains the critic.
    """
    eps = rand((real.shape[0], 1, 1, 1), generator, real.device).to(real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).float().norm(dim=1) - 1) ** 2


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty ||grad_x D(x)||^2 per real image, (B,); ``real`` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.flatten(1).float().pow(2).sum(1)
