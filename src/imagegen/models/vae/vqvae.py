"""VQ-VAE (van den Oord et al. 2017) with an EMA codebook and a learned autoregressive prior.

Stage 1 (phase "main") trains encoder, codebook and decoder on -log p(x|z_q) + beta_c ||z_e -
sg(e)||^2 (Eq. 3; the codebook term is replaced by EMA updates). Stage 2 (phase "prior", from
``prior_start`` of the budget on) fits a causal transformer to the codes of the training images,
so ``sample`` draws new images: codes k ~ p(k) from the prior, then the decoder's mean.
The ELBO treats q(k|x) as one-hot: -ELBO = -log p(x|z_q) - log p(k).

With ``adversarial > 0`` the decoder also plays against a PatchGAN discriminator (phase "D"), as
in VQGAN (Esser et al. 2021): L = L_rec + L_commit + lambda * adversarial * L_G, with the adaptive
weight lambda of Eq. 7 (:mod:`imagegen.models.vae.adversarial_decoder`, shared with ``klvae``).

Once the autoencoder has stopped (``ae_stop``), each training image's codes are fixed: the prior
phase caches them by dataset position, so it pays the encoder once per image instead of per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
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
from imagegen.models.layers.residual import ResBlock, group_norm
from imagegen.models.layers.vector_quantizer import VectorQuantizer
from imagegen.models.vae import likelihood as lik
from imagegen.models.vae.adversarial_decoder import discriminator_step, generator_term
from imagegen.models.vae.autoencoder import Autoencoder
from imagegen.models.vae.code_prior import CodePrior
from imagegen.seeding import Generators


@dataclass
class VQVAEConfig(ModelConfig):
    """VQ-VAE hyper-parameters.

    Attributes:
        width: channels at the code grid (half of it at full resolution).
        downsample: 2x downsamplings to the code grid (28 -> 7 with 2), capped by the resolution.
        res_blocks: residual blocks at the code grid in encoder and decoder.
        num_codes: codebook size K.
        code_dim: size D of each code vector.
        commitment: beta_c, weight of the commitment loss.
        ema_decay: gamma of the codebook EMA.
        dead_threshold: restart codes whose EMA count falls below this (0: never).
        likelihood: p(x|z) ("gaussian" is the MSE of the paper).
        obs_sigma: std of the Gaussian likelihood.
        prior_dim, prior_depth, prior_heads: the transformer prior.
        prior_start: fraction of the training budget after which the prior trains (the codes
            move less by then).
        ae_stop: fraction of the budget after which the autoencoder stops training (1: never),
            leaving the prior the whole machine and fixed codes to fit.
        conditional: class-conditional prior (the decoder stays unconditional).
        lr, prior_lr: Adam learning rates of the autoencoder and the prior.
        adversarial: weight of the decoder's hinge GAN loss against a PatchGAN (0: none, the
            plain VQ-VAE); VQGAN uses 0.8.
        adv_start: fraction of the budget after which the discriminator and that loss start
            (the reconstructions are roughly right by then).
        disc_width: channels of the discriminator's first layer.
    """

    width: int = 128
    downsample: int = 2
    res_blocks: int = 2
    num_codes: int = 256
    code_dim: int = 32
    commitment: float = 0.25
    ema_decay: float = 0.99
    dead_threshold: float = 1.0
    likelihood: lik.Likelihood = "gaussian"
    obs_sigma: float = 0.1
    prior_dim: int = 256
    prior_depth: int = 6
    prior_heads: int = 8
    prior_start: float = 0.4
    ae_stop: float = 1.0
    conditional: bool = False
    lr: float = 1e-3
    prior_lr: float = 1e-3
    adversarial: float = 0.0
    adv_start: float = 0.1
    disc_width: int = 64

    def validate(self) -> None:
        name = "VQVAEConfig"
        check_range(name, "width", self.width, 16)
        check_range(name, "downsample", self.downsample, 1, 4)
        check_range(name, "res_blocks", self.res_blocks, 0)
        check_range(name, "num_codes", self.num_codes, 2)
        check_range(name, "code_dim", self.code_dim, 1)
        check_range(name, "commitment", self.commitment, 0.0)
        check_range(name, "ema_decay", self.ema_decay, 0.0, 0.99999)
        check_range(name, "dead_threshold", self.dead_threshold, 0.0)
        check_choice(name, "likelihood", self.likelihood, lik.LIKELIHOODS)
        check_range(name, "obs_sigma", self.obs_sigma, 1e-4)
        check_range(name, "prior_depth", self.prior_depth, 1)
        check_range(name, "prior_heads", self.prior_heads, 1)
        if self.prior_dim % self.prior_heads:
            raise ConfigError(
                f"VQVAEConfig.prior_dim={self.prior_dim} is not divisible by "
                f"prior_heads={self.prior_heads}: change one of them"
            )
        check_range(name, "prior_start", self.prior_start, 0.0, 1.0)
        check_range(name, "ae_stop", self.ae_stop, 0.0, 1.0)
        if self.ae_stop < self.prior_start:
            raise ConfigError(
                f"VQVAEConfig.ae_stop={self.ae_stop} is before prior_start={self.prior_start}: "
                "the prior needs codes; use ae_stop >= prior_start"
            )
        check_range(name, "lr", self.lr, 0.0, 1.0)
        check_range(name, "prior_lr", self.prior_lr, 0.0, 1.0)
        check_range(name, "adversarial", self.adversarial, 0.0)
        check_range(name, "adv_start", self.adv_start, 0.0, 1.0)
        check_range(name, "disc_width", self.disc_width, 8)
        if self.adversarial > 0 and self.adv_start >= self.ae_stop:
            raise ConfigError(
                f"VQVAEConfig.adv_start={self.adv_start} is not before ae_stop={self.ae_stop}: "
                "the decoder would never see the discriminator; lower adv_start"
            )


def _stages(cfg: VQVAEConfig, spec: DataSpec) -> int:
    return min(cfg.downsample, pyramid(spec.resolution)[1])


class VQEncoder(nn.Module):
    """x (B, C, H, W) -> z_e (B, code_dim, H / 2^s, W / 2^s)."""

    def __init__(self, cfg: VQVAEConfig, spec: DataSpec) -> None:
        super().__init__()
        s = _stages(cfg, spec)
        ch = [max(cfg.width // 2 ** (s - i), 16) for i in range(s + 1)]
        layers: list[nn.Module] = [nn.Conv2d(spec.channels, ch[0], 3, 1, 1)]
        for i in range(s):
            layers += [ResBlock(ch[i]), nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1)]
        layers += [ResBlock(ch[-1]) for _ in range(cfg.res_blocks)]
        layers += [group_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], cfg.code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class VQDecoder(nn.Module):
    """z_q (B, code_dim, h, w) -> likelihood parameters (B, C or 2C, H, W)."""

    def __init__(self, cfg: VQVAEConfig, spec: DataSpec) -> None:
        super().__init__()
        s = _stages(cfg, spec)
        ch = [max(cfg.width // 2**i, 16) for i in range(s + 1)]
        layers: list[nn.Module] = [nn.Conv2d(cfg.code_dim, ch[0], 3, 1, 1)]
        layers += [ResBlock(ch[0]) for _ in range(cfg.res_blocks)]
        for i in range(s):
            layers += [nn.ConvTranspose2d(ch[i], ch[i + 1], 4, 2, 1), ResBlock(ch[i + 1])]
        out = lik.out_channels(cfg.likelihood, spec.channels)
        layers += [group_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], out, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VQVAE(Autoencoder):
    name = "vqvae"
    summary = "VQ-VAE: EMA codebook, commitment, dead-code restarts, transformer prior for sampling"
    Config = VQVAEConfig

    def __init__(self, config: VQVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.encoder = VQEncoder(config, spec)
        self.decoder = VQDecoder(config, spec)
        self.quantizer = VectorQuantizer(
            config.num_codes,
            config.code_dim,
            config.ema_decay,
            dead_threshold=config.dead_threshold,
        )
        side = spec.resolution // 2 ** _stages(config, spec)
        self.grid = (side, side)
        self.prior = CodePrior(
            config.num_codes,
            side * side,
            config.prior_dim,
            config.prior_depth,
            config.prior_heads,
            spec.num_classes if config.conditional else 0,
        )
        self.disc = (
            PatchDiscriminator(spec.channels, config.disc_width, _stages(config, spec))
            if config.adversarial > 0
            else None
        )
        self._adv_on = False
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None  # (x, x_rec) for phase D
        self._ae_frozen = False
        # codes of training images once the autoencoder is frozen: (flipped?, N, h*w), -1: unknown
        self._code_cache = torch.empty(0)

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        ae = [*self.encoder.parameters(), *self.decoder.parameters()]
        groups = {"main": ae, "prior": list(self.prior.parameters())}
        if self.disc is not None:
            groups["disc"] = list(self.disc.parameters())
        return groups

    def optim_settings(self, group: str) -> OptimSettings:
        if group == "prior":
            return OptimSettings(lr=self.config.prior_lr, betas=(0.9, 0.99), weight_decay=0.0)
        if group == "disc":
            return OptimSettings(lr=self.config.lr, betas=(0.5, 0.9))
        return OptimSettings(lr=self.config.lr)

    def phases(self) -> list[Phase]:
        c = self.config
        phases = [Phase("main", "main", stop=c.ae_stop)]
        if self.disc is not None:
            phases.append(Phase("D", "disc", start=c.adv_start, stop=c.ae_stop))
        return [*phases, Phase("prior", "prior", start=c.prior_start)]

    def begin_step(self, step: int, done: float) -> None:
        self._ae_frozen = done >= self.config.ae_stop
        self._adv_on = self.disc is not None and done >= self.config.adv_start
        self._last = None
        if not self._ae_frozen:
            self._code_cache = torch.empty(0)

    def _batch_codes(self, batch: Batch) -> torch.Tensor:
        """Codes (B, h*w) of a training batch; cached by dataset position while the AE is frozen."""
        if not self._ae_frozen or batch.index is None:
            return self.codes(batch.x).flatten(1)
        idx = batch.index
        flip = torch.zeros_like(idx) if batch.flipped is None else batch.flipped.long()
        size = self._code_cache.shape[1] if self._code_cache.numel() else 0
        if size <= int(idx.max()):
            shape = (2, max(int(idx.max()) + 1, 2 * size), self.prior.length)
            grown = torch.full(shape, -1, dtype=torch.int32)
            if size:
                grown[:, :size] = self._code_cache
            self._code_cache = grown
        k = self._code_cache[flip, idx].long()  # (B, h*w)
        miss = k[:, 0] < 0
        if miss.any():
            k[miss] = self.codes(batch.x[miss]).flatten(1).cpu()
            self._code_cache[flip[miss], idx[miss]] = k[miss].int()
        return k.to(batch.x.device)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices of images (B, C, H, W) in [-1, 1] -> (B, h, w) int64 (no EMA update)."""
        with torch.no_grad():
            return self.quantizer.nearest_grid(self.encoder(x))

    def _disc_loss(self, batch: Batch) -> StepOutput:
        assert self.disc is not None
        return discriminator_step(
            self.disc, batch.x, self._last, lambda x: self.decode(self.encode(x))
        )

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        if phase == "D":
            return self._disc_loss(batch)
        if phase == "prior":
            y = batch.y if self.conditional else None
            k = self._batch_codes(batch)  # (B, h*w)
            nll = self.prior.nll(k, y)
            return StepOutput(
                nll.mean() / k.shape[1],
                {"loss/prior_nats": nll.mean().detach()},
            )
        z_q, idx, commit = self.quantizer(self.encoder(batch.x), generator)
        h = self.decoder(z_q.to(batch.x.dtype))
        rec = lik.nll(self.likelihood, h, batch.x, self.config.obs_sigma)
        dims = batch.x[0].numel()
        loss = rec.mean() / dims + self.config.commitment * commit.mean() / z_q[0].numel()
        used, perplexity = VectorQuantizer.usage(idx, self.config.num_codes)
        x_rec = lik.mean(self.likelihood, h)
        logs: dict[str, torch.Tensor | float] = {}
        if self._adv_on and torch.is_grad_enabled():
            assert self.disc is not None
            w_last = self.decoder.net[-1].weight
            adv, adv_logs = generator_term(self.disc, x_rec, rec.mean() / dims, w_last)
            loss = loss + self.config.adversarial * adv
            logs.update(adv_logs)
            self._last = (batch.x, x_rec.detach())
        with torch.no_grad():
            mse = (x_rec.float() - batch.x).pow(2).mean() / 4  # [0, 1] scale
        return StepOutput(
            loss,
            {
                **logs,
                "loss/rec": rec.mean().detach(),
                "loss/commit": commit.mean().detach(),
                "vq/mse": mse,
                "vq/perplexity": perplexity,
                "vq/used": used,
                "vq/restarts": float(self.quantizer.restarts),
            },
        )

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Quantised code vectors (B, code_dim, h, w)."""
        return self.quantizer.lookup(self.codes(x))

    def snap(self, z: torch.Tensor) -> torch.Tensor:
        return self.quantizer.lookup(self.quantizer.nearest_grid(z))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return lik.mean(self.likelihood, self.decoder(z)).float()

    def elbo_terms(
        self, x: torch.Tensor, labels: torch.Tensor | None, generator: Generators
    ) -> dict[str, torch.Tensor]:
        k = self.codes(x)
        h = self.decoder(self.quantizer.lookup(k))
        return {
            "rec": lik.nll(self.likelihood, h, x, self.config.obs_sigma),
            "kl": self.prior.nll(k.flatten(1), labels),
            "codes": k,
        }

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        **options: Any,
    ) -> torch.Tensor:
        """Codes from the prior (``temperature``, ``top_k``), decoded to mean images in [-1, 1]."""
        self.check_temperature(temperature)
        if top_k < 0:
            raise ConfigError(f"top_k={top_k} is not allowed: use 0 (all codes) or more")
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        k = self.prior.sample(n, generator, device, y, temperature, top_k)
        return self.decode(self.quantizer.lookup(k.view(n, *self.grid)))

    def sample_options(self) -> dict[str, Any]:
        return {"temperature": 1.0, "top_k": 0}
