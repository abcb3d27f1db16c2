"""KL-regularised autoencoder with a spatial latent: the first stage of latent diffusion.

Rombach et al. 2022 (Sec. 3.1, "KL-reg."): the encoder gives a diagonal Gaussian q(z|x) over a
(c, H/f, W/f) latent map, and training minimises -log p(x|z) + beta * KL(q(z|x) || N(0, I)) with
beta far below 1 (theirs: 1e-6 against a summed L1), so the latent keeps nearly every detail and
the KL term only keeps its scale in check. With ``adversarial > 0`` the decoder also plays a hinge
GAN against a PatchGAN, weighted by VQGAN's adaptive lambda
(:mod:`imagegen.models.vae.adversarial_decoder`, shared with ``vqvae``), for sharp strokes. With
``equivariance > 0`` that share of the steps reconstructs a rotated or downscaled image from the
equally transformed latent instead (EQ-VAE, :mod:`imagegen.models.vae.equivariance`).

With beta << 1 the aggregate posterior is far from N(0, I), so this model's own samples (z from
the prior, decoded) are poor by design: ``ldm`` learns the prior afterwards. Encoder and decoder
are diffusers' ``AutoencoderKL`` (Stable Diffusion's first-stage architecture), used as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import AutoencoderKL
from torch import nn

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import (
    ModelConfig,
    OptimSettings,
    Phase,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.layers import pyramid
from imagegen.models.layers.patch_discriminator import PatchDiscriminator
from imagegen.models.vae import equivariance as eq
from imagegen.models.vae import likelihood as lik
from imagegen.models.vae.adversarial_decoder import discriminator_step, generator_term
from imagegen.models.vae.autoencoder import Autoencoder
from imagegen.models.vae.latent import kl_two_gaussians, reparameterize
from imagegen.seeding import Generators, randn


@dataclass
class KLVAEConfig(ModelConfig):
    """KL autoencoder hyper-parameters.

    Attributes:
        width: channels at the latent grid (halved per level towards full resolution, >= 16).
        downsample: 2x downsamplings to the latent grid (f = 2^downsample; 28 -> 7 with 2),
            capped by the resolution.
        layers_per_block: residual blocks per level of encoder and decoder.
        latent_channels: c, channels of the latent map.
        norm_groups: groups of the group norms (must divide every level's channels).
        mid_attention: self-attention in the middle block of encoder and decoder.
        beta: weight of the KL term against -log p(x|z) in nats (1 = the ELBO).
        likelihood: p(x|z), as in ``vae`` ("gaussian" with ``obs_sigma`` is a scaled MSE).
        obs_sigma: std of the Gaussian likelihood.
        conditional: a learned class-conditional prior N(mu_y, I) in place of N(0, I).
        lr: Adam learning rate of encoder and decoder (and the discriminator).
        adversarial: weight of the decoder's hinge GAN loss against a PatchGAN (0: none).
        adv_start: fraction of the budget after which the discriminator and that loss start.
        disc_width: channels of the discriminator's first layer.
        equivariance: probability that a training step decodes tau(z) against tau(x), tau a
            random rotation or downscaling (EQ-VAE's p; its steps have no adversarial term).
    """

    width: int = 64
    downsample: int = 2
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_groups: int = 16
    mid_attention: bool = True
    beta: float = 1e-4
    likelihood: lik.Likelihood = "gaussian"
    obs_sigma: float = 0.2
    conditional: bool = False
    lr: float = 1e-3
    adversarial: float = 0.0
    adv_start: float = 0.1
    disc_width: int = 64
    equivariance: float = 0.0

    def validate(self) -> None:
        name = "KLVAEConfig"
        check_range(name, "width", self.width, 16)
        check_range(name, "downsample", self.downsample, 0)
        check_range(name, "layers_per_block", self.layers_per_block, 1)
        check_range(name, "latent_channels", self.latent_channels, 1)
        check_range(name, "norm_groups", self.norm_groups, 1)
        check_range(name, "beta", self.beta, 0.0)
        check_choice(name, "likelihood", self.likelihood, lik.LIKELIHOODS)
        check_range(name, "obs_sigma", self.obs_sigma, 1e-4)
        check_range(name, "lr", self.lr, 0.0, 1.0)
        check_range(name, "adversarial", self.adversarial, 0.0)
        check_range(name, "adv_start", self.adv_start, 0.0, 0.999)
        check_range(name, "disc_width", self.disc_width, 8)
        check_range(name, "equivariance", self.equivariance, 0.0, 1.0)


def _levels(cfg: KLVAEConfig, spec: DataSpec) -> list[int]:
    """Channels per level, full resolution first; one level per downsampling, plus the grid's."""
    s = min(cfg.downsample, pyramid(spec.resolution)[1])
    ch = [max(cfg.width // 2 ** (s - i), 16) for i in range(s + 1)]
    bad = [c for c in ch if c % cfg.norm_groups]
    if bad:
        raise ConfigError(
            f"KLVAEConfig.norm_groups={cfg.norm_groups} does not divide the channels {ch}: "
            "use norm_groups 8 or 16 (or a width that is a multiple of it)"
        )
    return ch


class KLVAE(Autoencoder):
    name = "klvae"
    summary = (
        "KL-regularised autoencoder with a spatial latent (latent diffusion's first stage), "
        "optional VQGAN-style adversarial decoder"
    )
    Config = KLVAEConfig

    def __init__(self, config: KLVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        ch = _levels(config, spec)
        n = len(ch)
        self.net = AutoencoderKL(
            in_channels=spec.channels,
            out_channels=lik.out_channels(config.likelihood, spec.channels),
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(ch),
            layers_per_block=config.layers_per_block,
            latent_channels=config.latent_channels,
            norm_num_groups=config.norm_groups,
            sample_size=spec.resolution,
            mid_block_add_attention=config.mid_attention,
        )
        side = spec.resolution // 2 ** (n - 1)
        self.grid = (config.latent_channels, side, side)
        # mu_y of the class-conditional prior N(mu_y, I), one latent map per class
        self.class_means = (
            nn.Parameter(torch.zeros(spec.num_classes, *self.grid)) if config.conditional else None
        )
        self.disc = (
            PatchDiscriminator(spec.channels, config.disc_width, n - 1)
            if config.adversarial > 0
            else None
        )
        self._adv_on = False
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None  # (x, x_rec) for phase D

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return self.grid

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        main = list(self.net.parameters())
        if self.class_means is not None:
            main.append(self.class_means)
        groups = {"main": main}
        if self.disc is not None:
            groups["disc"] = list(self.disc.parameters())
        return groups

    def optim_settings(self, group: str) -> OptimSettings:
        if group == "disc":
            return OptimSettings(lr=self.config.lr, betas=(0.5, 0.9))
        return OptimSettings(lr=self.config.lr)

    def phases(self) -> list[Phase]:
        phases = [Phase("main", "main")]
        if self.disc is not None:
            phases.append(Phase("D", "disc", start=self.config.adv_start))
        return phases

    def begin_step(self, step: int, done: float) -> None:
        self._adv_on = self.disc is not None and done >= self.config.adv_start
        self._last = None

    # -- q(z|x), p(z), p(x|z) ------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each (B, c, h, w)."""
        q = self.net.encode(x).latent_dist
        return q.mean, q.logvar

    def prior_mean(self, y: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        """mu of p(z) = N(mu, I): 0, or the class's learned map."""
        if self.class_means is None or y is None:
            return torch.zeros_like(like)
        return self.class_means[y].to(like.dtype)

    def decoder_out(self, z: torch.Tensor) -> torch.Tensor:
        """Likelihood parameters (B, C or 2C, H, W) of p(x|z)."""
        return self.net.decode(z).sample

    def _terms(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        generator: Generators,
        tau: eq.Transform | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The ELBO's terms (see :meth:`elbo_terms`), the decoder's output and its target: x, or
        with ``tau`` the image tau(x) that it decodes from tau(z) (KL stays that of q(z|x))."""
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar, generator)
        if tau is not None:
            z, x = tau(z), tau(x, self.spec.resolution // self.grid[-1])
        h = self.decoder_out(z)
        mu_p = self.prior_mean(labels, mu).float()
        kl = kl_two_gaussians(mu.float(), logvar.float(), mu_p, torch.zeros_like(mu_p))
        terms = {
            "rec": lik.nll(self.likelihood, h, x, self.config.obs_sigma),
            "kl": kl.flatten(1).sum(1),
            "mu": mu.flatten(1),  # for the active-units count
        }
        return terms, h, x

    def elbo_terms(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        return self._terms(x, labels, generator)[0]

    def _disc_loss(self, batch: Batch) -> StepOutput:
        assert self.disc is not None
        return discriminator_step(
            self.disc, batch.x, self._last, lambda x: self.decode(self.encode(x))
        )

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        if phase == "D":
            return self._disc_loss(batch)
        y = batch.y if self.conditional else None
        tau = None
        if self.training and torch.is_grad_enabled():
            tau = eq.draw(generator, self.config.equivariance, self.grid[-1])
        t, h, target = self._terms(batch.x, y, generator, tau)
        rec = t["rec"].mean() / target[0].numel()
        loss = rec + self.config.beta * t["kl"].mean() / batch.x[0].numel()
        logs: dict[str, torch.Tensor] = {}
        if self._adv_on and tau is None and torch.is_grad_enabled():
            assert self.disc is not None
            x_rec = lik.mean(self.likelihood, h)
            w_last = self.net.decoder.conv_out.weight
            adv, logs = generator_term(self.disc, x_rec, rec, w_last)
            loss = loss + self.config.adversarial * adv
            self._last = (batch.x, x_rec.detach())
        with torch.no_grad():
            x_rec = lik.mean(self.likelihood, h).float()
            mse = (x_rec - target).pow(2).mean() / 4  # [0, 1] scale
        return StepOutput(
            loss,
            {
                **logs,
                "loss/rec": t["rec"].mean().detach(),
                "loss/kl": t["kl"].mean().detach(),
                "klvae/mse": mse,
                "klvae/latent_std": t["mu"].float().std().detach(),
            },
        )

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean (B, c, h, w)."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return lik.mean(self.likelihood, self.decoder_out(z)).float()

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
        """Decode z ~ N(mu_y or 0, temperature^2 I). Poor images unless beta is near 1: this is
        a first stage, and ``ldm`` learns the latents' real distribution."""
        self.check_temperature(temperature)
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        eps = randn((n, *self.grid), generator, device)
        return self.decode(self.prior_mean(y, eps) + temperature * eps)
