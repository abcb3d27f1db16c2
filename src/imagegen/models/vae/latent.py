"""Diagonal-Gaussian latents: the reparameterisation trick, closed-form KL, free bits, warm-up."""

from __future__ import annotations

import torch

from imagegen.seeding import Generators, randn


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: Generators) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014, Eq. 10)."""
    eps = randn(tuple(mu.shape), generator, mu.device, mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_diag_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over all but the batch dim: (B, ...) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


def kl_two_gaussians(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per element (diagonal Gaussians), same shape."""
    return 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0
    )


def free_bits(kl_per_dim: torch.Tensor, nats: float) -> torch.Tensor:
    """KL with a floor of ``nats`` per latent dimension (Kingma et al. 2016, Eq. 15), per image.

    Each dimension's batch-mean KL below the floor is held at the floor (no gradient pushes it
    lower), so units keep some information instead of collapsing to the prior.

    Args:
        kl_per_dim: (B, D) elementwise KL.
        nats: the floor (0: plain KL).
    Returns:
        (B,) KL to optimise (its batch mean equals the sum of the floored dimension means).
    """
    if nats <= 0:
        return kl_per_dim.sum(1)
    mean = kl_per_dim.mean(0, keepdim=True)
    floored = torch.where(mean < nats, nats + 0 * kl_per_dim, kl_per_dim)
    return floored.sum(1)


def kl_weight(beta: float, warmup: float, done: float) -> float:
    """beta ramped linearly from 0 over the first ``warmup`` fraction of the budget (Bowman et al.
    2016; Sonderby et al. 2016), then held."""
    if warmup <= 0:
        return beta
    return beta * min(1.0, done / warmup)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Which latent dimensions are active (Burda et al. 2016, Sec. 5.2): A_u = Cov_x(E_q[z_u]) > 0.01.

    Args:
        mu: (N, D) posterior means of N data points.
    Returns:
        bool (D,).
    """
    return mu.float().var(0) > threshold
