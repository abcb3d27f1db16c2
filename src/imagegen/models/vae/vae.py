"""Convolutional VAE (Kingma & Welling 2014) trained on the ELBO with a beta-weighted KL.

Negative ELBO per image = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)).
The likelihood p(x|z) is a Gaussian with fixed std ``obs_sigma`` on the [-1, 1] pixel scale,
or a Bernoulli on pixels mapped to [0, 1] (for near-binary data like MNIST).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.layers import pyramid
from imagegen.seeding import Generators, randn


@dataclass
class VAEConfig(ModelConfig):
    """VAE hyper-parameters.

    Attributes:
        latent_dim: size of z.
        width: channels of the deepest conv layer.
        beta: weight of the KL term (1 = the ELBO).
        likelihood: "gaussian" (fixed std ``obs_sigma`` on [-1, 1] pixels) or "bernoulli".
        obs_sigma: std of the Gaussian likelihood.
        conditional: condition encoder and decoder on class labels (a CVAE).
        lr: Adam learning rate.
    """

    latent_dim: int = 32
    width: int = 128
    beta: float = 1.0
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"
    obs_sigma: float = 0.2
    conditional: bool = False
    lr: float = 1e-3

    def validate(self) -> None:
        check_range("VAEConfig", "latent_dim", self.latent_dim, 1)
        check_range("VAEConfig", "width", self.width, 8)
        check_range("VAEConfig", "beta", self.beta, 0.0)
        check_choice("VAEConfig", "likelihood", self.likelihood, ("gaussian", "bernoulli"))
        check_range("VAEConfig", "obs_sigma", self.obs_sigma, 1e-4)
        check_range("VAEConfig", "lr", self.lr, 0.0, 1.0)


def kl_diag_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent dims, (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (the reparameterisation trick)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class Encoder(nn.Module):
    """x (B, C, H, W) [+ label] -> (mu, logvar), each (B, latent_dim)."""

    def __init__(self, cfg: VAEConfig, spec: DataSpec) -> None:
        super().__init__()
        base, stages = pyramid(spec.resolution)
        ch = [max(cfg.width // 2 ** (stages - i), 16) for i in range(stages + 1)]
        n_cls = spec.num_classes if cfg.conditional else 0
        self.n_cls = n_cls
        layers: list[nn.Module] = [nn.Conv2d(spec.channels + n_cls, ch[0], 3, 1, 1), nn.SiLU()]
        for i in range(stages):
            layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1), nn.GroupNorm(8, ch[i + 1]), nn.SiLU()]
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
    """z (B, latent_dim) [+ label] -> logits/means (B, C, H, W)."""

    def __init__(self, cfg: VAEConfig, spec: DataSpec) -> None:
        super().__init__()
        self.base, stages = pyramid(spec.resolution)
        ch = [max(cfg.width // 2**i, 16) for i in range(stages + 1)]
        self.c0 = ch[0]
        n_cls = spec.num_classes if cfg.conditional else 0
        self.n_cls = n_cls
        self.fc = nn.Linear(cfg.latent_dim + n_cls, ch[0] * self.base**2)
        layers: list[nn.Module] = []
        for i in range(stages):
            layers += [
                nn.SiLU(),
                nn.ConvTranspose2d(ch[i], ch[i + 1], 4, 2, 1),
                nn.GroupNorm(8, ch[i + 1]),
            ]
        self.net = nn.Sequential(*layers, nn.SiLU(), nn.Conv2d(ch[-1], spec.channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_cls:
            z = torch.cat([z, F.one_hot(y, self.n_cls).to(z.dtype)], dim=1)
        h = self.fc(z).view(z.shape[0], self.c0, self.base, self.base)
        return self.net(h)


class VAE(GenerativeModel):
    name = "vae"
    family = "vae"
    summary = (
        "convolutional VAE on the ELBO (Gaussian/Bernoulli likelihood, beta-KL); optional labels"
    )
    Config = VAEConfig

    def __init__(self, config: VAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.encoder = Encoder(config, spec)
        self.decoder = Decoder(config, spec)

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr)

    def decode_mean(self, h: torch.Tensor) -> torch.Tensor:
        """Decoder output -> mean image in [-1, 1]."""
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(h) * 2 - 1
        return h.clamp(-1, 1)

    def nll(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats per image, (B,) (Gaussian: continuous density on [-1, 1] pixels)."""
        if self.config.likelihood == "bernoulli":
            target = (x + 1) / 2
            return F.binary_cross_entropy_with_logits(h, target, reduction="none").flatten(1).sum(1)
        s = self.config.obs_sigma
        d = x[0].numel()
        sq = (x - h).pow(2).flatten(1).sum(1)
        return sq / (2 * s**2) + d * (math.log(s) + 0.5 * math.log(2 * math.pi))

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        y = batch.y if self.conditional else None
        mu, logvar = self.encoder(batch.x, y)
        z = reparameterize(mu, logvar, generator)
        h = self.decoder(z, y)
        rec = self.nll(h, batch.x)
        kl = kl_diag_gaussian(mu, logvar)
        loss = (rec + self.config.beta * kl).mean()
        return StepOutput(
            loss,
            {
                "loss/elbo": (rec + kl).mean().detach(),
                "loss/rec": rec.mean().detach(),
                "loss/kl": kl.mean().detach(),
            },
        )

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean of x: (B, C, H, W) in [-1, 1] -> same shape and range."""
        y = self.check_labels(x.shape[0], labels, x.device)
        mu, _ = self.encoder(x, y)
        return self.decode_mean(self.decoder(mu, y)).float()

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        z = randn((n, self.config.latent_dim), generator, device)
        return self.decode_mean(self.decoder(z, y)).float()
