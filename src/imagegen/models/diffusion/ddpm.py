"""DDPM (Ho et al. 2020): a UNet denoiser trained on the simple loss.

L_simple = E_{x_0, eps, t} w(t) || target - f_theta(x_t, t) ||^2 with
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, where the target is eps (Ho et al.),
v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho 2022) or x_0 itself, and
w(t) is 1 or the Min-SNR-gamma weight (Hang et al. 2023), which speeds up convergence.
The backbone is diffusers' ``UNet2DModel`` (class-conditional through its class embedding);
the noise schedule and samplers are diffusers' DDPM/DDIM/DPM-Solver++ schedulers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

from imagegen.data.base import Batch, DataSpec
from imagegen.errors import ConfigError
from imagegen.models.base import (
    GenerativeModel,
    ModelConfig,
    OptimSettings,
    StepOutput,
    check_choice,
    check_range,
)
from imagegen.models.diffusion.sampler import (
    PREDICTIONS,
    SAMPLERS,
    SCHEDULES,
    SPACINGS,
    make_scheduler,
    run_sampler,
)
from imagegen.seeding import Generators


@dataclass
class DDPMConfig(ModelConfig):
    """DDPM hyper-parameters.

    Attributes:
        channels: UNet channels per resolution level (each level after the first halves H, W).
        attention: self-attention at each level (same length as ``channels``).
        layers_per_block: residual blocks per level.
        mid_attention: self-attention in the UNet's middle block.
        patch_size: the UNet sees ``pixel_unshuffle(x_t, p)``, a (C p^2, H/p, W/p) grid, and its
            output is shuffled back; p = 2 quarters the positions every convolution visits, which
            makes a CPU step several times cheaper at little cost on small images (the input
            patching of Hoogeboom et al. 2023, "simple diffusion").
        schedule: "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal 2021) beta schedule.
        timesteps: T, the number of training noise levels.
        prediction: what the UNet predicts: "epsilon" (noise), "v" or "sample" (x_0).
        loss_weighting: "uniform" (L_simple) or "min_snr" (w = min(SNR_t, gamma) / SNR_t for
            epsilon, rescaled for the other predictions so all weight x_0 errors alike).
        snr_gamma: gamma of Min-SNR weighting.
        t_sampling: how training draws t: "uniform" over 1..T (Ho et al.), or "lognormal": the t
            whose sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) is nearest to a draw of
            ln sigma ~ N(p_mean, p_std^2) (Karras et al. 2022, Sec. 5), which spends the steps on
            the middle noise levels where the loss can still fall instead of the near-pure-noise
            and near-clean ends. With v prediction and uniform weighting that is EDM's training
            loss for sigma_data = 1 (its weight on ||D - x_0||^2 is 1 + SNR).
        p_mean: mean of ln sigma for "lognormal".
        p_std: standard deviation of ln sigma for "lognormal".
        sampler: default sampler, "ddpm" (ancestral), "ddim" or "dpm" (DPM-Solver++ 2M).
        sample_steps: default number of sampling steps.
        sample_spacing: "trailing" or "karras" step spacing of the "dpm" sampler (see
            :func:`imagegen.models.diffusion.sampler.make_scheduler`); the other samplers use
            trailing spacing.
        conditional: class-conditional through the UNet's class embedding.
        lr: Adam learning rate.
    """

    channels: tuple[int, ...] = (64, 128, 128)
    attention: tuple[bool, ...] = (False, False, True)
    layers_per_block: int = 1
    mid_attention: bool = True
    patch_size: int = 1
    schedule: Literal["linear", "cosine"] = "linear"
    timesteps: int = 1000
    prediction: Literal["epsilon", "v", "sample"] = "epsilon"
    loss_weighting: Literal["uniform", "min_snr"] = "uniform"
    snr_gamma: float = 5.0
    t_sampling: Literal["uniform", "lognormal"] = "uniform"
    p_mean: float = -1.2
    p_std: float = 1.2
    sampler: Literal["ddpm", "ddim", "dpm"] = "ddim"
    sample_steps: int = 50
    sample_spacing: Literal["trailing", "karras"] = "trailing"
    conditional: bool = False
    lr: float = 2e-4

    def validate(self) -> None:
        if len(self.channels) < 1 or any(int(c) < 8 or int(c) % 8 for c in self.channels):
            raise ConfigError(
                f"DDPMConfig.channels={list(self.channels)} is not allowed: give multiples of 8, e.g. [64, 128, 128]"
            )
        if len(self.attention) != len(self.channels):
            raise ConfigError(
                f"DDPMConfig.attention has {len(self.attention)} entries for {len(self.channels)} levels: give one per level"
            )
        check_range("DDPMConfig", "layers_per_block", self.layers_per_block, 1)
        check_range("DDPMConfig", "patch_size", self.patch_size, 1, 8)
        check_choice("DDPMConfig", "schedule", self.schedule, tuple(SCHEDULES))
        check_range("DDPMConfig", "timesteps", self.timesteps, 2)
        check_choice("DDPMConfig", "prediction", self.prediction, tuple(PREDICTIONS))
        check_choice("DDPMConfig", "loss_weighting", self.loss_weighting, ("uniform", "min_snr"))
        check_range("DDPMConfig", "snr_gamma", self.snr_gamma, 1e-3)
        check_choice("DDPMConfig", "t_sampling", self.t_sampling, ("uniform", "lognormal"))
        check_range("DDPMConfig", "p_std", self.p_std, 1e-3)
        check_choice("DDPMConfig", "sampler", self.sampler, SAMPLERS)
        check_range("DDPMConfig", "sample_steps", self.sample_steps, 1, self.timesteps)
        check_choice("DDPMConfig", "sample_spacing", self.sample_spacing, SPACINGS)
        check_range("DDPMConfig", "lr", self.lr, 0.0, 1.0)


class DDPM(GenerativeModel):
    name = "ddpm"
    family = "diffusion"
    summary = (
        "DDPM: UNet (diffusers) predicting eps/v/x0, linear/cosine schedule, Min-SNR weighting, "
        "DDPM/DDIM/DPM-Solver++ sampling; optional labels"
    )
    Config = DDPMConfig

    def __init__(self, config: DDPMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        levels, p = len(config.channels), config.patch_size
        if spec.resolution % p:
            raise ConfigError(
                f"resolution {spec.resolution} is not divisible by patch_size {p}: "
                "choose a patch size that divides it (--set model.patch_size=1)"
            )
        grid = spec.resolution // p
        if grid % 2 ** (levels - 1):
            raise ConfigError(
                f"the UNet's {grid}x{grid} grid is not divisible by 2^{levels - 1} for a {levels}-level UNet: "
                "use fewer levels (--set model.channels=[64,128] --set model.attention=[false,true]), "
                "another patch_size, or resize the data"
            )
        down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention)
        up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention))
        self.unet = UNet2DModel(
            sample_size=grid,
            in_channels=spec.channels * p * p,
            out_channels=spec.channels * p * p,
            block_out_channels=tuple(int(c) for c in config.channels),
            down_block_types=down,
            up_block_types=up,
            layers_per_block=config.layers_per_block,
            norm_num_groups=8,
            attention_head_dim=32,
            add_attention=config.mid_attention,
            num_class_embeds=spec.num_classes if config.conditional else None,
        )
        self.noise_scheduler = make_scheduler(
            "ddpm", config.schedule, config.timesteps, config.prediction
        )
        alpha_bar = self.noise_scheduler.alphas_cumprod.float()
        # SNR_t = alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021); a buffer so .to() moves it.
        self.register_buffer("snr", alpha_bar / (1 - alpha_bar), persistent=False)
        # ln sigma_t = -ln(SNR_t) / 2, increasing in t (what "lognormal" t sampling searches)
        self.register_buffer("log_sigma", -0.5 * self.snr.log(), persistent=False)

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    def optim_settings(self, group: str) -> OptimSettings:
        return OptimSettings(lr=self.config.lr)

    def predict(
        self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """f_theta(x_t, t[, y]): the network output (eps, v or x_0 by ``config.prediction``)."""
        p = self.config.patch_size
        if p == 1:
            return self.unet(x_t, t, class_labels=y).sample
        # (B, C, H, W) -> (B, C p^2, H/p, W/p) -> UNet -> back to (B, C, H, W)
        out = self.unet(F.pixel_unshuffle(x_t, p), t, class_labels=y).sample
        return F.pixel_shuffle(out, p)

    def target(self, x_0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What f_theta should output for x_t built from (x_0, eps, t)."""
        if self.config.prediction == "epsilon":
            return eps
        if self.config.prediction == "sample":
            return x_0
        return self.noise_scheduler.get_velocity(x_0, eps, t)  # v, Eq. in Sec. 4 of Salimans & Ho

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """w(t), shape (B,): 1, or Min-SNR-gamma (Hang et al. 2023, Eq. 9 and its v/x_0 forms)."""
        if self.config.loss_weighting == "uniform":
            return torch.ones(t.shape, device=t.device)
        snr = self.snr.to(t.device)[t]
        clipped = snr.clamp(max=self.config.snr_gamma)
        if self.config.prediction == "epsilon":
            return clipped / snr
        if self.config.prediction == "v":
            return clipped / (snr + 1)
        return clipped

    def sample_t(self, b: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Training timesteps, shape (B,) int64 in [0, T), drawn by ``config.t_sampling``."""
        c = self.config
        if c.t_sampling == "uniform":
            return torch.randint(0, c.timesteps, (b,), generator=generator, device=device)
        ln_sigma = c.p_mean + c.p_std * torch.randn(b, generator=generator, device=device)
        log_sigma = self.log_sigma.to(device)
        return torch.searchsorted(log_sigma, ln_sigma).clamp(max=c.timesteps - 1)

    def loss(self, phase: str, batch: Batch, generator: torch.Generator) -> StepOutput:
        x_0 = batch.x
        b = x_0.shape[0]
        t = self.sample_t(b, generator, x_0.device)
        eps = torch.randn(x_0.shape, generator=generator, device=x_0.device)
        x_t = self.noise_scheduler.add_noise(x_0, eps, t)  # Eq. 4 of Ho et al.
        y = batch.y if self.conditional else None
        err = (self.predict(x_t, t, y).float() - self.target(x_0, eps, t)).pow(2)
        per_image = err.mean(dim=(1, 2, 3))  # (B,)
        loss = (self.loss_weight(t) * per_image).mean()
        return StepOutput(loss, {"loss/mse": per_image.mean().detach()})

    def sample_options(self) -> dict[str, Any]:
        c = self.config
        return {
            "sampler": c.sampler,
            "steps": c.sample_steps,
            "eta": 0.0,
            "spacing": c.sample_spacing,
        }

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: Generators,
        labels: torch.Tensor | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float = 0.0,
        spacing: str | None = None,
        **options: Any,
    ) -> torch.Tensor:
        device = next(self.parameters()).device
        y = self.check_labels(n, labels, device)
        kind = sampler or self.config.sampler
        check_choice("sample", "sampler", kind, SAMPLERS)
        k = int(steps or self.config.sample_steps)
        if not 1 <= k <= self.config.timesteps:
            raise ConfigError(f"steps={k} is out of range: use 1..{self.config.timesteps}")
        c = self.config
        spacing = spacing or c.sample_spacing
        check_choice("sample", "spacing", spacing, SPACINGS)
        scheduler = make_scheduler(kind, c.schedule, c.timesteps, c.prediction, spacing)
        shape = (n, self.spec.channels, self.spec.resolution, self.spec.resolution)

        def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.predict(x_t, t.expand(n), y)

        return run_sampler(model_fn, scheduler, shape, k, generator, device, eta=eta)
