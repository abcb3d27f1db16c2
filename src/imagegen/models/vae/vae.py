"""Convolutional VAE (Kingma & Welling 2014) trained on the ELBO.

Negative ELBO per image = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)); training weights the KL by
beta (ramped from 0 over ``kl_warmup`` of the budget) and may hold each latent dimension's KL at
a floor of ``free_bits`` nats. The likelihood is Gaussian, Bernoulli or discretised logistic
(see :mod:`imagegen.models.vae.likelihood`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.models.base import ModelConfig, OptimSettings, StepOutput, check_choice, check_range
from imagegen.models.layers import pyramid
from imagegen.models.layers.residual import ResBlock
from imagegen.models.vae import likelihood as lik
from imagegen.models.vae.autoencoder import Autoencoder
from imagegen.models.vae.latent import (
    free_bits,
    kl_diag_gaussian,
    kl_two_gaussians,
    kl_weight,
    reparameterize,
)
from imagegen.seeding import Generators, randn


@dataclass
class VAEConfig(ModelConfig):
    """VAE hyper-parameters.

    Attributes:
        latent_dim: size of z.
        width: channels of the deepest conv layer.
        beta: weight of the KL term (1 = the ELBO).
        likelihood: "gaussian" (fixed std ``obs_sigma`` on [-1, 1] pixels), "bernoulli" or
            "logistic" (discretised, learned scale).
        obs_sigma: std of the Gaussian likelihood.
        calibrated: Gaussian likelihood only: sigma is the RMS error of the batch, its optimum
            (sigma-VAE, Rybkin et al. 2021), so reconstruction and KL balance themselves; the
            ELBO on test data uses its running mean.
        kl_warmup: fraction of the training budget over which the KL weight ramps from 0 to beta.
        free_bits: floor in nats on each latent dimension's batch-mean KL (0: none).
        conditional: feed one-hot labels to encoder and decoder (prior stays N(0, I); see ``cvae``
            for a learned class prior).
        res_blocks: residual blocks after each resolution stage of encoder and decoder (0: the
            plain conv stack).
        lr: Adam learning rate.
    """

    latent_dim: int = 32
    width: int = 128
    beta: float = 1.0
    likelihood: lik.Likelihood = "gaussian"
    obs_sigma: float = 0.2
    calibrated: bool = False
    kl_warmup: float = 0.0
    free_bits: float = 0.0
    conditional: bool = False
    res_blocks: int = 0
    lr: float = 1e-3

    def validate(self) -> None:
        name = type(self).__name__
        check_range(name, "res_blocks", self.res_blocks, 0)
        check_range(name, "latent_dim", self.latent_dim, 1)
        check_range(name, "width", self.width, 8)
        check_range(name, "beta", self.beta, 0.0)
        check_choice(name, "likelihood", self.likelihood, lik.LIKELIHOODS)
        check_range(name, "obs_sigma", self.obs_sigma, 1e-4)
        check_range(name, "kl_warmup", self.kl_warmup, 0.0, 1.0)
        check_range(name, "free_bits", self.free_bits, 0.0)
        check_range(name, "lr", self.lr, 0.0, 1.0)


class Encoder(nn.Module):
    """x (B, C, H, W) [+ one-hot label planes] -> (mu, logvar), each (B, latent_dim)."""

    def __init__(self, cfg: VAEConfig, spec: DataSpec, n_cls: int = 0) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = [max(cfg.width // 2 ** (stages - i), 16) for i in range(stages + 1)]
        self.n_cls = n_cls
        layers: list[nn.Module] = [nn.Conv2d(spec.channels + n_cls, ch[0], 3, 1, 1), nn.SiLU()]
        for i in range(stages):
            layers += [ResBlock(ch[i]) for _ in range(cfg.res_blocks)]
            layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1), nn.GroupNorm(8, ch[i + 1]), nn.SiLU()]
        layers += [ResBlock(ch[-1]) for _ in range(cfg.res_blocks)]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(ch[-1] * base * base, 2 * cfg.latent_dim)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_cls:
            onehot = F.one_hot(y, self.n_cls).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, onehot.expand(-1, -1, x.shape[2], x.shape[3])], dim=1)
        mu, logvar = self.head(self.net(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """z (B, latent_dim) [+ one-hot label] -> likelihood parameters (B, C or 2C, H, W)."""

    def __init__(self, cfg: VAEConfig, spec: DataSpec, n_cls: int = 0) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = [max(cfg.width // 2**i, 16) for i in range(stages + 1)]
        self.c0 = ch[0]
        self.n_cls = n_cls
        self.fc = nn.Linear(cfg.latent_dim + n_cls, ch[0] * self.base**2)
        layers: list[nn.Module] = [ResBlock(ch[0]) for _ in range(cfg.res_blocks)]
        for i in range(stages):
            layers += [
                nn.SiLU(),
                nn.ConvTranspose2d(ch[i], ch[i + 1], 4, 2, 1),
                nn.GroupNorm(8, ch[i + 1]),
            ]
            layers += [ResBlock(ch[i + 1]) for _ in range(cfg.res_blocks)]
        out = lik.out_channels(cfg.likelihood, spec.channels)
        self.net = nn.Sequential(*layers, nn.SiLU(), nn.Conv2d(ch[-1], out, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_cls:
            z = torch.cat([z, F.one_hot(y, self.n_cls).to(z.dtype)], dim=1)
        h = self.fc(z).view(z.shape[0], self.c0, self.base, self.base)
        return self.net(h)


class VAE(Autoencoder):
    name = "vae"
    summary = "convolutional VAE on the ELBO (Gaussian/Bernoulli/logistic, KL warm-up, free bits)"
    Config = VAEConfig

    def __init__(self, config: VAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        n_cls = spec.num_classes if config.conditional else 0
        self.encoder = Encoder(config, spec, n_cls)
        self.decoder = Decoder(config, spec, n_cls)
        self.kl_beta = config.beta  # the KL weight of the current step (warm-up)
        if config.calibrated:  # only then: older runs' weights keep loading
            self.register_buffer("sigma_run", torch.tensor(float(config.obs_sigma)))

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr)

    def begin_step(self, step: int, done: float) -> None:
        self.kl_beta = kl_weight(self.config.beta, self.config.kl_warmup, done)

    def prior(
        self, y: torch.Tensor | None, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of p(z) (or p(z|y)), broadcastable to ``like``: here N(0, I)."""
        zero = torch.zeros_like(like)
        return zero, zero

    def kl_per_dim(
        self, mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per latent dimension, (B, D), against :meth:`prior`."""
        mu_p, logvar_p = self.prior(y, mu)
        return kl_two_gaussians(mu, logvar, mu_p, logvar_p)

    def training_kl(self, kl_dims: torch.Tensor) -> torch.Tensor:
        """The KL term that training minimises, per image (free bits applied), (B,)."""
        return self.kl_beta * free_bits(kl_dims, self.config.free_bits)

    def obs_sigma(self, h: torch.Tensor, x: torch.Tensor) -> float | torch.Tensor:
        """The Gaussian likelihood's sigma: fixed, or (``calibrated``) the batch RMS error in
        training, with gradient, and its running mean otherwise."""
        if not (self.config.calibrated and self.likelihood == "gaussian"):
            return self.config.obs_sigma
        if not self.training:
            return self.sigma_run
        sigma = (x.float() - h.float()).pow(2).mean().sqrt().clamp(min=1e-3)
        with torch.no_grad():
            self.sigma_run.lerp_(sigma.detach(), 0.01)
        return sigma

    def elbo_terms(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x, labels)
        z = reparameterize(mu, logvar, generator)
        h = self.decoder(z, labels)
        kl_dims = self.kl_per_dim(mu.float(), logvar.float(), labels)
        return {
            "rec": lik.nll(self.likelihood, h, x, self.obs_sigma(h, x)),
            "kl": kl_dims.sum(1),
            "kl_dims": kl_dims,
            "mu": mu,
        }

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        y = batch.y if self.conditional else None
        t = self.elbo_terms(batch.x, y, generator)
        loss = (t["rec"] + self.training_kl(t["kl_dims"])).mean()
        logs = {
            "loss/elbo": (t["rec"] + t["kl"]).mean().detach(),
            "loss/rec": t["rec"].mean().detach(),
            "loss/kl": t["kl"].mean().detach(),
        }
        if self.config.calibrated:
            logs["vae/sigma"] = self.sigma_run.detach().clone()
        return StepOutput(loss, logs)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x, labels)[0]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return lik.mean(self.likelihood, self.decoder(z, labels)).float()

    @torch.no_grad()
    def traverse(
        self,
        x: torch.Tensor,
        dims: list[int],
        values: list[float],
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Latent traversals: sweep each of ``dims`` over ``values`` from the posterior mean of
        one image while the other dimensions stay fixed (Higgins et al. 2017, Fig. 1).

        Args:
            x: (1, C, H, W) in [-1, 1], the image whose latent is swept.
            dims: latent dimensions to sweep.
            values: the values each swept dimension takes (in prior std units).
        Returns:
            (len(dims), len(values), C, H, W) in [-1, 1].
        """
        y = self.check_labels(1, labels, x.device)
        mu = self.encode(x[:1], y)[0]
        z = mu.repeat(len(dims) * len(values), 1)  # (rows * cols, D)
        for i, d in enumerate(dims):
            z[i * len(values) : (i + 1) * len(values), d] = torch.tensor(values, dtype=z.dtype)
        ys = None if y is None else y.expand(z.shape[0])
        out = self.decode(z, ys)
        return out.view(len(dims), len(values), *out.shape[1:])

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        temperature: float = 1.0,
        **options: Any,
    ) -> torch.Tensor:
        """Decode z ~ p(z) (scaled by ``temperature``) to mean images, float32 in [-1, 1]."""
        self.check_temperature(temperature)
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        eps = randn((n, self.config.latent_dim), generator, device)
        mu, logvar = self.prior(y, eps)
        return self.decode(mu + temperature * torch.exp(0.5 * logvar) * eps, y)


__all__ = ["VAE", "VAEConfig", "kl_diag_gaussian", "reparameterize"]
