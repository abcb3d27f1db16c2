"""Hierarchical VAE in the spirit of NVAE (Vahdat & Kautz 2020), small enough for 28/32 px on a CPU.

- Latent groups at several scales (e.g. 7x7 then 14x14 for MNIST), ``groups`` per scale.
- A bottom-up encoder of residual cells gives one feature map per group; a top-down decoder
  carries a state h from a learned constant through every group: the prior of group l is
  p(z_l | z_<l) = N(mu_p(h), sigma_p(h)), the posterior q(z_l | x, z_<l) is the residual normal
  N(mu_p + dmu, sigma_p * dsigma) with (dmu, dsigma) from [h, encoder feature] (NVAE Eq. 4).
- Bounded parameters (NVAE's soft clamp, b tanh(x / b)): the prior's mean and log-std, and the
  posterior's residuals, cannot run off; a prior std near 0 makes the KL, and its gradient,
  explode (an unbounded version diverged on MNIST after ~500 steps at lr 2e-3).
- KL warm-up with KL balancing (NVAE Sec. 3.2 / App. A): while the KL weight ramps up, group l's KL
  is weighted by gamma_l proportional to its batch-mean KL, so no group collapses to its prior
  while the others carry the information.
Negative ELBO = -log p(x|z) + sum_l KL(q(z_l|x, z_<l) || p(z_l|z_<l)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.models.base import (
    ModelConfig,
    OptimSettings,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.layers import pyramid
from imagegen.models.layers.residual import ResBlock, group_norm
from imagegen.models.vae import likelihood as lik
from imagegen.models.vae.autoencoder import Autoencoder
from imagegen.models.vae.latent import kl_two_gaussians, kl_weight
from imagegen.seeding import Generators, randn


@dataclass
class HVAEConfig(ModelConfig):
    """Hierarchical VAE hyper-parameters.

    Attributes:
        width: channels of the residual cells.
        scales: latent resolutions, from image size / 2^scales up to image size / 2.
        groups: latent groups per scale.
        z_channels: channels of each latent group.
        cells: residual cells per group in the encoder and decoder.
        likelihood: p(x|z); "logistic" (discretised) gives an honest bound in nats and bits/dim.
        obs_sigma: std of a Gaussian likelihood.
        kl_warmup: fraction of the budget over which the KL weight ramps 0 -> 1 (KL balancing on).
        lr: Adam learning rate.
        temperature: default std scale of prior samples (NVAE samples at 0.6-1.0).
        conditional: class-conditional: a label embedding is added to the top-down state, so
            every prior and posterior sees the class.
    """

    width: int = 64
    scales: int = 2
    groups: int = 2
    z_channels: int = 8
    cells: int = 1
    likelihood: lik.Likelihood = "logistic"
    obs_sigma: float = 0.1
    kl_warmup: float = 0.3
    lr: float = 2e-3
    temperature: float = 1.0
    conditional: bool = False

    def validate(self) -> None:
        name = "HVAEConfig"
        check_range(name, "width", self.width, 16)
        check_range(name, "scales", self.scales, 1, 4)
        check_range(name, "groups", self.groups, 1)
        check_range(name, "z_channels", self.z_channels, 1)
        check_range(name, "cells", self.cells, 1)
        check_choice(name, "likelihood", self.likelihood, lik.LIKELIHOODS)
        check_range(name, "obs_sigma", self.obs_sigma, 1e-4)
        check_range(name, "kl_warmup", self.kl_warmup, 0.0, 1.0)
        check_range(name, "lr", self.lr, 0.0, 1.0)
        check_range(name, "temperature", self.temperature, 0.0)


MU_BOUND = 5.0  # |mean| and |mean residual| stay below this
LOGSTD_BOUND = 3.0  # |log std| of the prior, and of the posterior's residual, stay below this


def soft_clamp(x: torch.Tensor, bound: float) -> torch.Tensor:
    """bound * tanh(x / bound): the identity near 0, smoothly bounded by ±bound (NVAE)."""
    return bound * torch.tanh(x / bound)


def _cells(width: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(width) for _ in range(n)))


class HVAE(Autoencoder):
    name = "hvae"
    summary = (
        "hierarchical VAE (NVAE-like): latent groups at 2+ scales, residual cells, KL balancing"
    )
    Config = HVAEConfig

    def __init__(self, config: HVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c = config
        w = c.width
        self.n_scales = min(c.scales, pyramid(spec.resolution)[1])
        top = spec.resolution // 2**self.n_scales
        # latent grid side of each group, top (coarsest) first
        self.sides = [top * 2**s for s in range(self.n_scales) for _ in range(c.groups)]
        self.stem = nn.Conv2d(spec.channels, w, 3, 1, 1)
        self.down = nn.ModuleList(nn.Conv2d(w, w, 4, 2, 1) for _ in range(self.n_scales))
        # bottom-up cells: one per group, run finest scale first
        self.enc_cells = nn.ModuleList(_cells(w, c.cells) for _ in self.sides)
        self.h0 = nn.Parameter(torch.zeros(1, w, top, top))
        self.label_emb = nn.Embedding(spec.num_classes, w) if c.conditional else None
        self.prior_heads = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Conv2d(w, 2 * c.z_channels, 3, 1, 1)) for _ in self.sides
        )
        self.post_heads = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Conv2d(2 * w, 2 * c.z_channels, 3, 1, 1))
            for _ in self.sides
        )
        self.z_in = nn.ModuleList(nn.Conv2d(c.z_channels, w, 1) for _ in self.sides)
        self.dec_cells = nn.ModuleList(_cells(w, c.cells) for _ in self.sides)
        self.up = nn.ModuleList(nn.ConvTranspose2d(w, w, 4, 2, 1) for _ in range(self.n_scales))
        out = lik.out_channels(c.likelihood, spec.channels)
        self.head = nn.Sequential(ResBlock(w), group_norm(w), nn.SiLU(), nn.Conv2d(w, out, 3, 1, 1))
        for heads in (self.prior_heads, self.post_heads):  # start at q = p = N(0, I)
            for h in heads:
                nn.init.zeros_(h[-1].weight)
                nn.init.zeros_(h[-1].bias)
        self.kl_beta = 1.0 if c.kl_warmup == 0 else 0.0

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr, betas=(0.9, 0.999))

    def _h0(self, batch: int, y: torch.Tensor | None) -> torch.Tensor:
        h = self.h0.expand(batch, -1, -1, -1)
        if self.label_emb is not None:
            h = h + self.label_emb(y)[:, :, None, None]
        return h

    def begin_step(self, step: int, done: float) -> None:
        self.kl_beta = kl_weight(1.0, self.config.kl_warmup, done)

    # ---- the two passes -------------------------------------------------------------------
    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features of every group, top (coarsest) first."""
        h = self.stem(x)
        feats: list[torch.Tensor] = []
        g = self.config.groups
        for s in range(self.n_scales):  # finest latent scale first
            h = self.down[s](h)
            for j in range(g):
                h = self.enc_cells[(self.n_scales - 1 - s) * g + (g - 1 - j)](h)
                feats.append(h)
        return feats[::-1]

    def top_down(
        self,
        batch: int,
        y: torch.Tensor | None = None,
        feats: list[torch.Tensor] | None = None,
        zs: list[torch.Tensor] | None = None,
        generator: Generators | None = None,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Run the decoder. Group l's z is ``zs[l]`` if given; else drawn from the posterior (with
        ``feats``) or the prior, its std scaled by ``temperature`` (0: the mean, no noise drawn).

        Returns:
            decoder output (B, out, H, W), the z of every group, the KL of every group (B,) each
            (zeros without ``feats``).
        """
        h = self._h0(batch, y)
        used, kls = [], []
        g = self.config.groups
        for l_ in range(len(self.sides)):
            if l_ and l_ % g == 0:
                h = self.up[l_ // g - 1](h)
            mu_p, logvar_p = self.prior_heads[l_](h).float().chunk(2, dim=1)
            mu_p, logvar_p = soft_clamp(mu_p, MU_BOUND), 2 * soft_clamp(logvar_p / 2, LOGSTD_BOUND)
            kl = torch.zeros(batch, device=h.device)
            if feats is not None:
                d_mu, d_logvar = (
                    self.post_heads[l_](torch.cat([h, feats[l_]], 1)).float().chunk(2, 1)
                )
                mu = mu_p + soft_clamp(d_mu, MU_BOUND)
                logvar = logvar_p + 2 * soft_clamp(d_logvar / 2, LOGSTD_BOUND)
                kl = kl_two_gaussians(mu, logvar, mu_p, logvar_p).flatten(1).sum(1)
            else:
                mu, logvar = mu_p, logvar_p
            if zs is not None:
                z = zs[l_]
            elif temperature == 0:
                z = mu
            else:
                eps = randn(tuple(mu.shape), generator, h.device)
                z = mu + temperature * torch.exp(0.5 * logvar) * eps
            used.append(z)
            kls.append(kl)
            h = self.dec_cells[l_](h + self.z_in[l_](z.to(h.dtype)))
        h = self.up[self.n_scales - 1](h)
        return self.head(h), used, kls

    # ---- training and the family API ------------------------------------------------------
    def elbo_terms(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        out, _, kls = self.top_down(x.shape[0], labels, self.bottom_up(x), generator=generator)
        return {
            "rec": lik.nll(self.likelihood, out, x, self.config.obs_sigma),
            "kl": torch.stack(kls, 1).sum(1),
            "kl_groups": torch.stack(kls, 1),
        }

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        t = self.elbo_terms(batch.x, batch.y if self.conditional else None, generator)
        kl_g = t["kl_groups"]  # (B, L)
        if self.kl_beta < 1.0:
            # KL balancing: gamma_l proportional to the group's batch-mean KL, mean 1 over groups
            a = kl_g.detach().mean(0) + 0.01
            gamma = a / a.mean()
            kl_train = self.kl_beta * (kl_g * gamma).sum(1)
        else:
            kl_train = t["kl"]
        loss = (t["rec"] + kl_train).mean() / batch.x[0].numel()  # per dimension: lr-friendly
        logs = {
            "loss/elbo": (t["rec"] + t["kl"]).mean().detach(),
            "loss/rec": t["rec"].mean().detach(),
            "loss/kl": t["kl"].mean().detach(),
        }
        for i, k in enumerate(kl_g.mean(0).detach()):
            logs[f"kl/group{i}"] = k
        return StepOutput(loss, logs)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means of every group, flattened and concatenated, (B, total latent dims).
        Each group's mean is taken given the means of the groups above it."""
        _, zs, _ = self.top_down(x.shape[0], labels, self.bottom_up(x), temperature=0.0)
        return torch.cat([z.flatten(1) for z in zs], 1)

    def _split(self, z: torch.Tensor) -> list[torch.Tensor]:
        c = self.config.z_channels
        sizes = [c * s * s for s in self.sides]
        return [
            part.view(z.shape[0], c, s, s)
            for part, s in zip(z.split(sizes, dim=1), self.sides, strict=True)
        ]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out, _, _ = self.top_down(z.shape[0], labels, zs=self._split(z))
        return lik.mean(self.likelihood, out).float()

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Ancestral samples z_l ~ p(z_l | z_<l) (std scaled by ``temperature``), mean images."""
        y = self.check_labels(n, labels, self.h0.device)
        t = self.config.temperature if temperature is None else temperature
        self.check_temperature(t)
        out, _, _ = self.top_down(n, y, generator=generator, temperature=t)
        return lik.mean(self.likelihood, out).float()

    def sample_options(self) -> dict[str, Any]:
        return {"temperature": self.config.temperature}
